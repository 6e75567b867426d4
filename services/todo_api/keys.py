"""Typed application keys of the todo API."""

from aiohttp import ClientSession, web

from shared.keys import blobs_key, relay_key, settings_key, store_key

__all__ = ["blobs_key", "relay_key", "settings_key", "store_key", "tracker_client_key"]

# forwards job status and result requests to the job tracker
tracker_client_key = web.AppKey("tracker_client", ClientSession)
