"""CORS_ALLOWED_ORIGINS: exact origins, comma-separated or a JSON list, spelled as a browser's
Origin header spells them; a wildcard, a path or anything that is no origin stops the start
with one line naming the variable."""

from __future__ import annotations

import pytest

from shared.settings import Settings, SettingsError

VARIABLE = "CORS_ALLOWED_ORIGINS"


def origins_from(monkeypatch: pytest.MonkeyPatch, value: str) -> tuple[str, ...]:
    monkeypatch.setenv(VARIABLE, value)
    return Settings.from_env().cors_allowed_origins


def test_none_are_allowed_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)

    assert Settings.from_env().cors_allowed_origins == ()


@pytest.mark.parametrize(
    "value",
    [
        "https://app.example.com,http://localhost:5173",
        " https://app.example.com , http://localhost:5173 ,",
        '["https://app.example.com", "http://localhost:5173"]',
    ],
)
def test_a_comma_list_or_a_json_list_is_read(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    assert origins_from(monkeypatch, value) == ("https://app.example.com", "http://localhost:5173")


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("HTTPS://App.Example.COM", "https://app.example.com"),
        ("https://app.example.com/", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://app.example.com:80", "http://app.example.com"),
        ("https://app.example.com:8443", "https://app.example.com:8443"),
        ("http://[::1]:5173", "http://[::1]:5173"),
    ],
)
def test_each_is_kept_as_a_browser_sends_it(
    monkeypatch: pytest.MonkeyPatch, given: str, sent: str
) -> None:
    assert origins_from(monkeypatch, given) == (sent,)


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "https://*.example.com",
        '["*"]',
        "null",
        "app.example.com",
        "ftp://app.example.com",
        "https://app.example.com/page",
        "https://app.example.com?x=1",
        "https://app.example.com#top",
        "https://user@app.example.com",
        "https://app.example.com:99999",
        '["https://app.example.com"',
        "[1, 2]",
    ],
)
def test_anything_but_exact_origins_stops_the_start_in_one_line(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        origins_from(monkeypatch, f"https://app.example.com,{value}" if "[" not in value else value)

    message = str(refused.value)
    assert message.startswith(f"invalid setting {VARIABLE}:")
    assert "\n" not in message
