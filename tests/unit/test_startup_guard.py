"""The start-up guard: AUTH_MODE=none beyond loopback is refused unless ALLOW_ANONYMOUS_ACCESS,
by the guard itself and where processes start (serve, the embedded mode)."""

from __future__ import annotations

import pytest
from aiohttp import web

from embedded import run as embedded_run
from shared.app import serve as serving
from shared.auth.exposure import refuse_anonymous_exposure
from shared.settings import Settings, SettingsError


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org"])
def test_anonymous_access_beyond_loopback_is_refused_in_one_line(host: str) -> None:
    with pytest.raises(SettingsError) as refused:
        refuse_anonymous_exposure(Settings(http_host=host))

    message = str(refused.value)
    assert "\n" not in message
    assert host in message
    assert "ALLOW_ANONYMOUS_ACCESS" in message


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_it_is_allowed_when_asked_for_or_when_credentials_are_required(host: str) -> None:
    refuse_anonymous_exposure(Settings(http_host=host, allow_anonymous_access=True))
    refuse_anonymous_exposure(Settings(http_host=host, auth_mode="required"))


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "LOCALHOST"])
def test_loopback_is_fine(host: str) -> None:
    refuse_anonymous_exposure(Settings(http_host=host))


def never_made(_settings: Settings) -> web.Application:
    raise AssertionError("the app was made although the settings are refused")


def test_a_service_process_refuses_before_making_its_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_HOST", "0.0.0.0")
    monkeypatch.delenv("AUTH_MODE", raising=False)
    monkeypatch.delenv("ALLOW_ANONYMOUS_ACCESS", raising=False)

    with pytest.raises(SettingsError):
        serving.serve(never_made, service="todo_api")


def test_the_embedded_mode_refuses_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_HOST", "0.0.0.0")
    monkeypatch.delenv("AUTH_MODE", raising=False)
    monkeypatch.delenv("ALLOW_ANONYMOUS_ACCESS", raising=False)

    def started(*_args: object) -> None:
        raise AssertionError("the embedded mode started although the settings are refused")

    monkeypatch.setattr(embedded_run, "run", started)

    with pytest.raises(SettingsError):
        embedded_run.main()
