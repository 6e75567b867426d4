"""Typed application keys of the job tracker."""

from shared.keys import blobs_key, settings_key, store_key

__all__ = ["blobs_key", "settings_key", "store_key"]
