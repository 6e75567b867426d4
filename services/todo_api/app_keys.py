"""Typed application keys of the todo API."""

from aiohttp import ClientSession, web

from services.todo_api.feed_secrets import FeedSecrets
from services.todo_api.key_book import KeyBook
from services.todo_api.records import TodoBook
from services.todo_api.tracker import Tracker
from shared.app.app_keys import (
    aws_key,
    blobs_key,
    metrics_url_key,
    relay_key,
    settings_key,
    store_key,
)
from shared.auth.rate_buckets import RateBuckets

__all__ = [
    "aws_key",
    "blobs_key",
    "book_key",
    "feed_secrets_key",
    "key_book_key",
    "metrics_url_key",
    "rate_buckets_key",
    "relay_key",
    "settings_key",
    "store_key",
    "tracker_client_key",
    "tracker_key",
]

# the records the command handlers decide against
book_key = web.AppKey("todo_book", TodoBook)
# the HTTP client that asks the job tracker and the other services' probes
tracker_client_key = web.AppKey("tracker_client", ClientSession)
# what the job routes, a cancel and the operations page ask of the job tracker (tracker.py)
tracker_key: web.AppKey[Tracker] = web.AppKey("tracker")
# the API keys, which the authentication middleware looks up per request
key_book_key = web.AppKey("key_book", KeyBook)
# the tenants' calendar feed secrets, which the feed URL routes issue, revoke and look up
feed_secrets_key = web.AppKey("feed_secrets", FeedSecrets)
# the rate limits' buckets, which their middleware takes a token from per limited request
rate_buckets_key = web.AppKey("rate_buckets", RateBuckets)
