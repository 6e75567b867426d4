"""The storage soak's arithmetic: straight-line fits of size against time and against jobs, which
samples each phase fits, and how many jobs the last job window holds."""

from __future__ import annotations

import pytest

from bench.soak_figures import (
    DatabaseSize,
    Phases,
    Sample,
    between,
    bytes_per_job,
    fit_line,
    growth_percent_per_hour,
    jobs_done_within,
)

# the short windows and a pass by 25 s, the job window at 70 s, steady from 135 s
PHASES = Phases(per_job_from_s=25, job_window_s=70, steady_from_s=135)


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


def test_between_takes_the_samples_from_the_start_and_before_the_end() -> None:
    samples = [sample(at_s, 0, 0) for at_s in (0, 30, 60, 90, 120)]

    assert [s.at_s for s in between(samples, 30, 90)] == [30, 60]
    assert [s.at_s for s in between(samples, 60)] == [60, 90, 120]


def test_bytes_per_job_are_fitted_after_the_short_windows_and_before_the_job_window() -> None:
    samples = [sample(at_s, 0, 0) for at_s in range(0, 181, 10)]

    assert [s.at_s for s in PHASES.per_job(samples)] == [30, 40, 50, 60]
    assert [s.at_s for s in PHASES.steady(samples)] == [140, 150, 160, 170, 180]


def test_the_breakdown_of_a_job_is_the_last_sample_before_the_job_window() -> None:
    samples = [sample(at_s, 0, 0) for at_s in (0, 30, 69.9, 70, 100)]

    last_before = PHASES.before_job_window(samples)

    assert last_before is not None
    assert last_before.at_s == 69.9
    assert PHASES.before_job_window([sample(70, 0, 0)]) is None


def test_a_run_shorter_than_a_phase_leaves_it_without_samples() -> None:
    samples = [sample(at_s, 0, 0) for at_s in (0, 30, 60)]

    assert [s.at_s for s in PHASES.per_job(samples)] == [30, 60]
    assert PHASES.steady(samples) == []


def test_the_jobs_kept_are_those_done_in_the_last_job_window() -> None:
    # 5 jobs a second from 0 s; 70 s before the last sample is 110 s, between 100 s and 120 s
    samples = [sample(at_s, 5 * at_s, 0) for at_s in (0, 100, 120, 180)]

    assert jobs_done_within(samples, 70) == pytest.approx(350)


def test_all_jobs_are_kept_while_the_run_is_shorter_than_the_job_window() -> None:
    samples = [sample(0, 0, 0), sample(30, 150, 0), sample(60, 300, 0)]

    assert jobs_done_within(samples, 70) == 300


def test_what_is_kept_counts_the_databases_and_the_bucket_but_not_the_calendar_files() -> None:
    taken = sample(0, 10, used=8192, calendars=1_000_000, snapshots=300)

    assert (taken.database_bytes, taken.wal_bytes) == (8192, 4096)
    assert (taken.bucket_bytes, taken.kept_bytes) == (300, 8492)
