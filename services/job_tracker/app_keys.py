"""Typed application keys of the job tracker."""

from aiohttp import web

from shared.app.app_keys import blobs_key, settings_key, store_key
from shared.auth.key_directory import SqlKeyDirectory

__all__ = ["blobs_key", "key_directory_key", "settings_key", "store_key"]

# the API keys todo_api issued, which the authentication middleware looks up per request
key_directory_key = web.AppKey("key_directory", SqlKeyDirectory)
