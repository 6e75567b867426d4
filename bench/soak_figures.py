"""The storage soak's samples and the arithmetic on them: its two phases, straight-line fits of
size against time and against jobs done. Pure: no file, no clock."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

# the blobs folder's top folder that holds the calendar files themselves, reported aside
CALENDARS_FOLDER = "calendars"
# a phase with fewer samples is reported as too short, not fitted
MIN_FIT_SAMPLES = 3

# what one type of event in one table holds, by `<database>.<table>` then type: rows, body bytes
Bodies = dict[str, dict[str, tuple[int, int]]]


@dataclass(frozen=True)
class DatabaseSize:
    # bytes of the pages in use, as a reader sees the database (what the WAL holds included)
    used_bytes: int
    # the -wal file's length on disk, beside the above
    wal_bytes: int
    # bytes of each table with its indexes (dbstat), or its row count where dbstat is missing
    tables: dict[str, int] = field(default_factory=dict)
    tables_in_rows: bool = False


@dataclass(frozen=True)
class Sample:
    at_s: float
    jobs_done: int
    databases: dict[str, DatabaseSize]
    # bytes under each top folder of the blobs folder (calendars, snapshots)
    blobs: dict[str, int]
    blob_files: dict[str, int]
    # taken only with the samples before the job window passes
    bodies: Bodies | None = None

    @property
    def database_bytes(self) -> int:
        return sum(size.used_bytes for size in self.databases.values())

    @property
    def wal_bytes(self) -> int:
        return sum(size.wal_bytes for size in self.databases.values())

    @property
    def bucket_bytes(self) -> int:
        """The blobs besides the calendar files (snapshots sent by claim check)."""
        return sum(size for folder, size in self.blobs.items() if folder != CALENDARS_FOLDER)

    @property
    def kept_bytes(self) -> int:
        """What the system keeps of its own: the databases and the bucket, calendars aside."""
        return self.database_bytes + self.bucket_bytes


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope and intercept of ys against xs."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("a fit needs two points or more, as many xs as ys")
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        raise ValueError("a fit needs two different xs")
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return slope, mean_y - slope * mean_x


def growth_percent_per_hour(at_s: Sequence[float], sizes: Sequence[float]) -> float:
    """The fitted growth an hour as a percentage of the fitted size at the last sample."""
    slope, intercept = fit_line(at_s, sizes)
    size_at_end = intercept + slope * at_s[-1]
    return slope * 3600 / size_at_end * 100 if size_at_end > 0 else 0.0


def bytes_per_job(jobs_done: Sequence[int], sizes: Sequence[float]) -> float:
    """The fitted bytes kept for each more job done."""
    return fit_line([float(jobs) for jobs in jobs_done], sizes)[0]


def between(samples: Sequence[Sample], from_s: float, until_s: float = math.inf) -> list[Sample]:
    """The samples taken at `from_s` or later and before `until_s`."""
    return [sample for sample in samples if from_s <= sample.at_s < until_s]


@dataclass(frozen=True)
class Phases:
    """The soak's two phases: while every finished job's history is still kept (what a job
    costs), and once it is deleted as fast as jobs finish (whether storage stays level)."""

    # the short windows have passed and an expiry pass has followed
    per_job_from_s: float
    # the first jobs' history starts to go
    job_window_s: float
    # the job window, an expiry pass and a margin for the deletes to catch up have passed
    steady_from_s: float

    def per_job(self, samples: Sequence[Sample]) -> list[Sample]:
        return between(samples, self.per_job_from_s, self.job_window_s)

    def steady(self, samples: Sequence[Sample]) -> list[Sample]:
        return between(samples, self.steady_from_s)

    def before_job_window(self, samples: Sequence[Sample]) -> Sample | None:
        """The last sample taken before the first jobs' history went."""
        before = between(samples, 0.0, self.job_window_s)
        return before[-1] if before else None


def jobs_done_within(samples: Sequence[Sample], window_s: float) -> float:
    """Jobs done in the last `window_s` before the last sample (the jobs done when it began
    interpolated between the samples around it): about the jobs whose history is kept."""
    last = samples[-1]
    began_s = last.at_s - window_s
    if began_s <= samples[0].at_s:
        return float(last.jobs_done)
    for before, after in itertools.pairwise(samples):
        if before.at_s <= began_s <= after.at_s:
            share = (began_s - before.at_s) / (after.at_s - before.at_s or 1.0)
            done_then = before.jobs_done + share * (after.jobs_done - before.jobs_done)
            return last.jobs_done - done_then
    return 0.0
