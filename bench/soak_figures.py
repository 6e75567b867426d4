"""The storage soak's samples and the arithmetic on them: straight-line fits of size against time
and against jobs done. Pure: no file, no clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

# the blobs folder's top folder that holds the calendar files themselves, reported aside
CALENDARS_FOLDER = "calendars"


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


def steady(samples: Sequence[Sample], after_s: float) -> list[Sample]:
    """The samples taken once `after_s` has passed: the longest window and a pass to delete."""
    return [sample for sample in samples if sample.at_s >= after_s]
