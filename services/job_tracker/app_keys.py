"""Typed application keys of the job tracker."""

from aiohttp import web

from services.job_tracker.job_changes import JobChanges
from services.job_tracker.stream_slots import StreamSlots
from shared.app.app_keys import blobs_key, settings_key, store_key
from shared.auth.key_directory import SqlKeyDirectory

__all__ = [
    "blobs_key",
    "job_changes_key",
    "key_directory_key",
    "settings_key",
    "store_key",
    "stream_slots_key",
]

# the API keys todo_api issued, which the authentication middleware looks up per request
key_directory_key = web.AppKey("key_directory", SqlKeyDirectory)
# which job rows changed, told by the fold and heard by the event streams
job_changes_key = web.AppKey[JobChanges]("job_changes")
# the event streams open in this process, and how many may be
stream_slots_key = web.AppKey("stream_slots", StreamSlots)
