"""The start-up guard: no service listens beyond loopback without authentication by accident.

AUTH_MODE=none makes every request the anonymous tenant's, which is safe only where no one else
can connect; on any other address the process refuses to start unless ALLOW_ANONYMOUS_ACCESS
says it is meant.
"""

from __future__ import annotations

from shared.settings import Settings, SettingsError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def refuse_anonymous_exposure(settings: Settings) -> None:
    """SettingsError (one line, the process exits) for anonymous access beyond loopback."""
    if settings.auth_mode != "none" or settings.allow_anonymous_access:
        return
    if settings.http_host.strip().lower() in LOOPBACK_HOSTS:
        return
    raise SettingsError(
        f"refusing to listen on {settings.http_host} with AUTH_MODE=none: anyone who can reach it "
        "would act as the anonymous tenant; set AUTH_MODE=required, HTTP_HOST=127.0.0.1, or "
        "ALLOW_ANONYMOUS_ACCESS=true if that is meant"
    )
