"""Typed application keys of the todo API."""

from aiohttp import web

from shared.settings import Settings
from shared.store import EventStore

settings_key = web.AppKey("settings", Settings)
store_key = web.AppKey("store", EventStore)
