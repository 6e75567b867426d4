"""The storage soak's arithmetic: straight-line fits of size against time and against jobs, and
which samples count as steady."""

from __future__ import annotations

import pytest

from bench.soak_figures import (
    DatabaseSize,
    Sample,
    bytes_per_job,
    fit_line,
    growth_percent_per_hour,
    steady,
)


def sample(at_s: float, jobs: int, used: int, calendars: int = 0, snapshots: int = 0) -> Sample:
    return Sample(
        at_s,
        jobs,
        {"todo_api": DatabaseSize(used, wal_bytes=4096)},
        {"calendars": calendars, "snapshots": snapshots},
        {"calendars": 1, "snapshots": 1},
    )


def test_a_fit_through_points_on_a_line_gives_the_line() -> None:
    assert fit_line([0, 1, 2, 3], [5, 7, 9, 11]) == pytest.approx((2.0, 5.0))


def test_a_fit_splits_the_scatter_evenly() -> None:
    assert fit_line([0, 1, 2, 3], [0, 2, 0, 2]) == pytest.approx((0.4, 0.4))


@pytest.mark.parametrize(("xs", "ys"), [([1], [1]), ([1, 1], [1, 2]), ([1, 2], [1])])
def test_a_fit_needs_two_different_xs_and_as_many_ys(xs: list[float], ys: list[float]) -> None:
    with pytest.raises(ValueError, match="a fit needs two"):
        fit_line(xs, ys)


def test_growth_is_a_share_of_the_fitted_size_at_the_last_sample() -> None:
    # 1,000 bytes an hour on a size that reaches 100,000 bytes at the last sample: 1 %/h
    at_s = [0.0, 1800.0, 3600.0]
    sizes = [99_000.0, 99_500.0, 100_000.0]

    assert growth_percent_per_hour(at_s, sizes) == pytest.approx(1.0)


def test_a_flat_size_grows_by_nothing() -> None:
    assert growth_percent_per_hour([0, 30, 60], [5000, 5000, 5000]) == 0.0


def test_bytes_per_job_is_the_slope_against_jobs_done_not_the_size_over_jobs() -> None:
    # a floor of 1 MB (the board) and 4 KB more for each job
    jobs = [100, 200, 400]
    sizes = [1_000_000 + 4096 * n for n in jobs]

    assert bytes_per_job(jobs, sizes) == pytest.approx(4096)


def test_steady_samples_start_once_the_window_has_passed() -> None:
    samples = [sample(at_s, 0, 0) for at_s in (0, 30, 60, 90, 120)]

    assert [s.at_s for s in steady(samples, 60)] == [60, 90, 120]


def test_what_is_kept_counts_the_databases_and_the_bucket_but_not_the_calendar_files() -> None:
    taken = sample(0, 10, used=8192, calendars=1_000_000, snapshots=300)

    assert (taken.database_bytes, taken.wal_bytes) == (8192, 4096)
    assert (taken.bucket_bytes, taken.kept_bytes) == (300, 8492)
