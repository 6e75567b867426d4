"""The storage soak's printed lines: one per sample as it goes, and the figures at the end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bench.soak_figures import (
    CALENDARS_FOLDER,
    Sample,
    bytes_per_job,
    growth_percent_per_hour,
    steady,
)

GROWTH_TARGET_PERCENT_PER_H = 1.0
DATABASE_BYTES_PER_JOB_TARGET = 4 * 1024
# tables listed under what dominates: the largest, down to this share of the databases
TOP_TABLES = 8
TABLE_SHARE_SHOWN = 0.005


class Counts(Protocol):
    jobs_done: int
    jobs_failed: int
    result_bytes: int
    edits: int
    errors: dict[str, int]


def size(count: float) -> str:
    """Bytes in the binary units (1 KB = 1024 bytes)."""
    for unit in ("B", "KB", "MB"):
        if abs(count) < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.2f} GB"


def sample_line(sample: Sample) -> str:
    databases = ", ".join(f"{name} {size(db.used_bytes)}" for name, db in sample.databases.items())
    calendars = sample.blobs.get(CALENDARS_FOLDER, 0)
    return (
        f"  {sample.at_s:6.0f} s, {sample.jobs_done:6,} jobs: databases "
        f"{size(sample.database_bytes)} ({databases}; WAL files {size(sample.wal_bytes)}), "
        f"bucket {size(sample.bucket_bytes)}, calendar files "
        f"{sample.blob_files.get(CALENDARS_FOLDER, 0):,} = {size(calendars)}"
    )


# what one type of event in one table holds: rows, bytes of body
Bodies = dict[str, dict[str, tuple[int, int]]]


def report(samples: Sequence[Sample], steady_after_s: float, counts: Counts, bodies: Bodies) -> str:
    last = samples[-1]
    errors = ", ".join(f"{what} {n}" for what, n in sorted(counts.errors.items())) or "none"
    lines = [
        f"soak results after {last.at_s / 60:.1f} min: {counts.jobs_done:,} jobs done and their "
        f"files downloaded ({counts.jobs_failed} failed), {counts.edits:,} edits; errors: {errors}"
    ]
    fitted = steady(samples, steady_after_s)
    if len(fitted) < 2 or fitted[0].jobs_done == fitted[-1].jobs_done:
        lines.append(
            f"  too short to fit: fewer than two samples with jobs after {steady_after_s:g} s"
        )
    else:
        lines += _fits(fitted, steady_after_s)
    per_job = last.kept_bytes / last.jobs_done if last.jobs_done else 0.0
    lines.append(
        f"  at the end: databases {size(last.database_bytes)} in use (WAL files beside: "
        f"{size(last.wal_bytes)}), bucket {size(last.bucket_bytes)}, = {size(per_job)} per job "
        f"done, the board and all included"
    )
    lines.append(_calendars(last, fitted, counts))
    lines += _dominant(last, fitted)
    lines += _bodies(bodies, last.database_bytes)
    return "\n".join(lines)


def _fits(fitted: Sequence[Sample], steady_after_s: float) -> list[str]:
    jobs = [sample.jobs_done for sample in fitted]
    at_s = [sample.at_s for sample in fitted]
    per_job = bytes_per_job(jobs, [s.database_bytes for s in fitted])
    bucket_per_job = bytes_per_job(jobs, [s.bucket_bytes for s in fitted])
    growth = growth_percent_per_hour(at_s, [s.kept_bytes for s in fitted])
    per_database = ", ".join(
        f"{name} {size(bytes_per_job(jobs, _used(fitted, name)))}" for name in fitted[-1].databases
    )
    growth_by_database = ", ".join(
        f"{name} {growth_percent_per_hour(at_s, _used(fitted, name)):.1f}"
        for name in fitted[-1].databases
    )
    return [
        f"  fitted over {len(fitted)} samples from {fitted[0].at_s:.0f} s to {fitted[-1].at_s:.0f} "
        f"s (after the longest window and an expiry pass, {steady_after_s:g} s), "
        f"{jobs[-1] - jobs[0]:,} jobs",
        f"  kept per job, databases: {size(per_job)} (target <= "
        f"{size(DATABASE_BYTES_PER_JOB_TARGET)}: {_met(per_job <= DATABASE_BYTES_PER_JOB_TARGET)})"
        f"; bucket besides the calendar files: {size(bucket_per_job)}",
        f"    by database: {per_database} (the board's edits included, at their rate)",
        f"  growth, databases and bucket: {growth:.1f} %/h of {size(fitted[-1].kept_bytes)} "
        f"(target < {GROWTH_TARGET_PERCENT_PER_H:g} %/h: "
        f"{_met(growth < GROWTH_TARGET_PERCENT_PER_H)})",
        f"    by database, %/h: {growth_by_database}",
    ]


def _calendars(last: Sample, fitted: Sequence[Sample], counts: Counts) -> str:
    files = last.blob_files.get(CALENDARS_FOLDER, 0)
    kept = last.blobs.get(CALENDARS_FOLDER, 0)
    downloaded = counts.result_bytes / counts.jobs_done if counts.jobs_done else 0.0
    line = (
        f"  calendar files (aside): {files:,} kept = {size(kept)}; {size(downloaded)} "
        f"downloaded per job"
    )
    if len(fitted) >= 2 and fitted[-1].blobs.get(CALENDARS_FOLDER, 0):
        at_s = [sample.at_s for sample in fitted]
        kept_s = [sample.blobs.get(CALENDARS_FOLDER, 0) for sample in fitted]
        line += f", growing {growth_percent_per_hour(at_s, kept_s):.1f} %/h"
    return line


def _dominant(last: Sample, fitted: Sequence[Sample]) -> list[str]:
    """The largest tables at the end (with their indexes), with what each keeps per job."""
    tables = [
        (name, table, count, db.tables_in_rows)
        for name, db in last.databases.items()
        for table, count in db.tables.items()
    ]
    tables.sort(key=lambda entry: entry[2], reverse=True)
    total = last.database_bytes or 1
    lines = ["  what dominates the databases at the end (tables with their indexes):"]
    for name, table, count, in_rows in tables[:TOP_TABLES]:
        if not in_rows and count < total * TABLE_SHARE_SHOWN:
            break
        amount = f"{count:,} rows" if in_rows else f"{size(count)} ({count / total:.0%})"
        line = f"    {name}.{table}: {amount}"
        if len(fitted) >= 2 and fitted[0].jobs_done != fitted[-1].jobs_done:
            counts = [
                s.databases[name].tables.get(table, 0) if name in s.databases else 0 for s in fitted
            ]
            slope = bytes_per_job([s.jobs_done for s in fitted], counts)
            line += f", {slope:,.1f} rows per job" if in_rows else f", {size(slope)} per job"
        lines.append(line)
    return lines


def _bodies(bodies: Bodies, total: int) -> list[str]:
    """The types of event whose bodies hold the most bytes, at the end."""
    kinds = [
        (table, kind, rows, size_)
        for table, by_kind in bodies.items()
        for kind, (rows, size_) in by_kind.items()
    ]
    kinds.sort(key=lambda entry: entry[3], reverse=True)
    lines = ["  whose bytes (bodies of events by type, at the end):"]
    for table, kind, rows, size_ in kinds[:TOP_TABLES]:
        if size_ < (total or 1) * TABLE_SHARE_SHOWN:
            break
        lines.append(
            f"    {table} {kind}: {rows:,} x {size(size_ / rows)} = {size(size_)} "
            f"({size_ / (total or 1):.0%} of the databases)"
        )
    return lines


def _used(samples: Sequence[Sample], name: str) -> list[int]:
    """A database's used bytes in each sample (0 before its file exists)."""
    return [s.databases[name].used_bytes if name in s.databases else 0 for s in samples]


def _met(met: bool) -> str:
    return "met" if met else "NOT met"
