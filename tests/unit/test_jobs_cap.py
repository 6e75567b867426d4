"""The cap on calendar jobs in flight as settings choose it, and its RateLimit fields."""

from __future__ import annotations

import pytest
from aiohttp import web

from services.todo_api.jobs_cap import cap_fields, jobs_cap
from services.todo_api.limit_fields import add_limit_fields
from shared.settings import CALENDAR_JOBS_IN_FLIGHT_DEFAULT, Settings


class TestJobsCap:
    @pytest.mark.parametrize(
        ("auth_mode", "setting", "cap"),
        [
            ("none", None, 0),
            ("required", None, CALENDAR_JOBS_IN_FLIGHT_DEFAULT),
            ("required", 0, 0),
            ("none", 3, 3),
        ],
    )
    def test_the_default_applies_with_auth_mode_required_only(
        self, auth_mode: str, setting: int | None, cap: int
    ) -> None:
        settings = Settings(auth_mode=auth_mode, calendar_jobs_in_flight_per_tenant=setting)

        assert jobs_cap(settings) == cap


class TestFields:
    def test_the_cap_counts_concurrent_requests_and_names_no_reset_time(self) -> None:
        assert cap_fields(4, 1) == {
            "RateLimit-Policy": '"jobs";q=4;qu="concurrent-requests"',
            "RateLimit": '"jobs";r=1',
        }

    def test_a_second_limit_s_members_follow_the_first_s(self) -> None:
        response = web.Response()

        add_limit_fields(response, cap_fields(4, 0))
        add_limit_fields(response, {"RateLimit-Policy": '"calendars";q=10;w=60'})

        assert response.headers["RateLimit-Policy"] == (
            '"jobs";q=4;qu="concurrent-requests", "calendars";q=10;w=60'
        )
        assert response.headers["RateLimit"] == '"jobs";r=0'
