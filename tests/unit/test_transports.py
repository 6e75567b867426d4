"""TRANSPORT=embedded finds the development emulator by name, and says so where it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.messaging import transports


def test_the_emulator_is_found_by_its_module_name() -> None:
    emulator = transports.emulator()

    assert callable(emulator.open_clients)
    assert callable(emulator.open_client)


def test_an_installation_without_the_emulator_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # as in the production image, which holds no `embedded` package
    monkeypatch.setattr(transports, "EMULATOR_MODULE", "embedded_absent.transport.clients")

    with pytest.raises(RuntimeError, match=r"TRANSPORT=embedded needs the development emulator"):
        transports.emulator()


def test_an_error_inside_the_emulator_is_not_taken_for_its_absence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the emulator is there, but a module it imports is not: a bug to show, not an absence
    (tmp_path / "broken_emulator.py").write_text("import no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(transports, "EMULATOR_MODULE", "broken_emulator")

    with pytest.raises(ModuleNotFoundError, match="no_such_dependency"):
        transports.emulator()
