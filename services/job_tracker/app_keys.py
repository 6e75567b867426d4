"""Typed application keys of the job tracker."""

from shared.app.app_keys import blobs_key, settings_key, store_key

__all__ = ["blobs_key", "settings_key", "store_key"]
