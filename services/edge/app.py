"""todo_api whose Tracker port is the job tracker's own views, called in process."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

from aiohttp import web

from services.job_tracker import in_flight, job_events, ops_views, views
from services.job_tracker.app import create_reader_app
from services.todo_api.app import create_app as create_todo_api
from services.todo_api.in_process_tracker import InProcessTracker
from shared.settings import Settings


def create_app(settings: Settings) -> web.Application:
    """todo_api answering the job routes from the tracker's tables in JOB_TRACKER_DATABASE_SCHEMA;
    with it unset, todo_api alone, which forwards them to JOB_TRACKER_URL."""
    if settings.job_tracker_database_schema is None:
        return create_todo_api(settings)
    reader = create_reader_app(
        settings.model_copy(update={"database_schema": settings.job_tracker_database_schema})
    )
    app = create_todo_api(settings, tracker=in_process_tracker(reader))
    # the reader is up before todo_api's own resources and goes after them
    app.cleanup_ctx.insert(0, functools.partial(_reader_running, reader))
    app.on_shutdown.append(functools.partial(end_tracker_streams, reader))
    return app


def in_process_tracker(tracker_app: web.Application) -> InProcessTracker:
    """todo_api's Tracker port answered by `tracker_app`'s own views, in this process: the tracker
    itself, or a reader of its tables."""
    return InProcessTracker(
        status_view=functools.partial(views.job_status, tracker_app),
        result_view=functools.partial(views.job_result, tracker_app),
        history_view=functools.partial(views.job_history, tracker_app),
        in_flight_view=functools.partial(in_flight.jobs_in_flight, tracker_app),
        events_view=functools.partial(job_events.job_events, tracker_app),
        overview_of=functools.partial(ops_views.overview_of, tracker_app),
    )


async def start_without_site(app: web.Application) -> web.AppRunner:
    """Run `app`'s start-up (its resources) without serving it: its views are called in process."""
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    return runner


async def end_tracker_streams(tracker_app: web.Application, _api_app: web.Application) -> None:
    """The tracker's event streams are served on todo_api's port: they end when it shuts down,
    before it waits for the requests in flight."""
    job_events.end_streams(tracker_app)


async def _reader_running(
    reader: web.Application, _api_app: web.Application
) -> AsyncIterator[None]:
    runner = await start_without_site(reader)
    yield
    await runner.cleanup()
