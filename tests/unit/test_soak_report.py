"""The storage soak's figures as printed: a phase too short to fit is said so, not fitted, and
each phase is fitted over its own samples."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.soak_figures import DatabaseSize, Phases, Sample
from bench.soak_report import report

# the short windows and a pass by 25 s, the job window at 70 s, steady from 135 s
PHASES = Phases(per_job_from_s=25, job_window_s=70, steady_from_s=135)


@dataclass
class Counts:
    jobs_done: int = 0
    jobs_failed: int = 0
    result_bytes: int = 0
    edits: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def sample(at_s: float, jobs: int, used: int) -> Sample:
    bodies = {"job_tracker.job_events": {"JobFinished": (jobs, 100 * jobs)}}
    return Sample(
        at_s,
        jobs,
        {"job_tracker": DatabaseSize(used, 0, {"job_events": used})},
        {},
        {},
        bodies if at_s < PHASES.job_window_s else None,
    )


def test_a_run_too_short_for_either_phase_says_so() -> None:
    samples = [sample(at_s, 5 * at_s, 1_000_000) for at_s in (0, 30, 60, 90)]

    printed = report(samples, PHASES, Counts(jobs_done=450), {})

    assert "too short to fit, 2 samples in it (3 needed)" in printed
    assert "too short to fit, 0 samples in it (3 needed)" in printed
    assert "%/h" not in printed


def test_per_job_is_fitted_while_jobs_are_kept_and_growth_once_they_go() -> None:
    # 4 KB a job until the job window, then level at 70 s of jobs (350 jobs, 1.4 MB)
    samples = [sample(at_s, 5 * at_s, 4096 * 5 * min(at_s, 70)) for at_s in range(0, 181, 10)]

    printed = report(samples, PHASES, Counts(jobs_done=900), {})

    assert "databases: 4.0 KB per job (target <= 4.0 KB: met)" in printed
    assert "databases and bucket: 0.0 %/h of a plateau of 1.4 MB (target < 1 %/h: met)" in printed
    assert "jobs kept at the end ~ 350 (done in the last 70 s) x 4.0 KB per job = 1.4 MB" in printed
    assert "at 60 s, the last sample before the job window" in printed
    assert "JobFinished: 300 x 100 B = 29.3 KB (2% of the databases), 100 B per job" in printed
