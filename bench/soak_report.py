"""The storage soak's printed lines: one per sample as it goes, and the figures at the end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bench.soak_figures import (
    CALENDARS_FOLDER,
    MIN_FIT_SAMPLES,
    Bodies,
    Phases,
    Sample,
    bytes_per_job,
    fit_line,
    growth_percent_per_hour,
    jobs_done_within,
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


def report(samples: Sequence[Sample], phases: Phases, counts: Counts, bodies: Bodies) -> str:
    last = samples[-1]
    errors = ", ".join(f"{what} {n}" for what, n in sorted(counts.errors.items())) or "none"
    lines = [
        f"soak results after {last.at_s / 60:.1f} min: {counts.jobs_done:,} jobs done and their "
        f"files downloaded ({counts.jobs_failed} failed), {counts.edits:,} edits; errors: {errors}"
    ]
    per_job_lines, per_job = _per_job(phases.per_job(samples), phases)
    lines += per_job_lines
    before = phases.before_job_window(samples)
    if before is not None:
        when = f"at {before.at_s:.0f} s, the last sample before the job window"
        lines += _dominant(before, phases.per_job(samples), per_job=True, when=when)
        lines += _bodies(before.bodies or {}, before.database_bytes, when, before.jobs_done)
    lines += _steady(samples, phases, per_job)
    lines.append(
        f"  at the end: databases {size(last.database_bytes)} in use (WAL files beside: "
        f"{size(last.wal_bytes)}), bucket {size(last.bucket_bytes)}"
    )
    lines.append(_calendars(last, phases.steady(samples), counts))
    lines += _dominant(last, phases.steady(samples), per_job=False, when="at the end")
    lines += _bodies(bodies, last.database_bytes, "at the end")
    return "\n".join(lines)


def _per_job(fitted: Sequence[Sample], phases: Phases) -> tuple[list[str], float | None]:
    """What each job keeps while every job's history is kept: the lines, and the databases'
    bytes per job (None when the phase is too short to fit)."""
    title = (
        f"  bytes kept per job, while every job's history is kept (from {phases.per_job_from_s:g}"
        f" s, the short windows and an expiry pass passed, to before the job window's "
        f"{phases.job_window_s:g} s)"
    )
    if len(fitted) < MIN_FIT_SAMPLES or fitted[0].jobs_done == fitted[-1].jobs_done:
        return [f"{title}: too short to fit, {_too_few(fitted)}"], None
    jobs = [sample.jobs_done for sample in fitted]
    per_job = bytes_per_job(jobs, [s.database_bytes for s in fitted])
    bucket_per_job = bytes_per_job(jobs, [s.bucket_bytes for s in fitted])
    per_database = ", ".join(
        f"{name} {size(bytes_per_job(jobs, _used(fitted, name)))}" for name in fitted[-1].databases
    )
    return (
        [
            f"{title}: {len(fitted)} samples from {fitted[0].at_s:.0f} s to "
            f"{fitted[-1].at_s:.0f} s, {jobs[-1] - jobs[0]:,} jobs",
            f"    databases: {size(per_job)} per job (target <= "
            f"{size(DATABASE_BYTES_PER_JOB_TARGET)}: "
            f"{_met(per_job <= DATABASE_BYTES_PER_JOB_TARGET)}); bucket besides the calendar "
            f"files: {size(bucket_per_job)}",
            f"    by database: {per_database} (the board's edits included, at their rate)",
        ],
        per_job,
    )


def _steady(samples: Sequence[Sample], phases: Phases, per_job: float | None) -> list[str]:
    """The growth once jobs' history is deleted as fast as jobs finish, and what is kept."""
    fitted = phases.steady(samples)
    title = (
        f"  growth once steady (from {phases.steady_from_s:g} s: the job window, an expiry pass "
        f"and the deletes' margin passed)"
    )
    if len(fitted) < MIN_FIT_SAMPLES:
        return [f"{title}: too short to fit, {_too_few(fitted)}"]
    at_s = [sample.at_s for sample in fitted]
    growth = growth_percent_per_hour(at_s, [s.kept_bytes for s in fitted])
    growth_by_database = ", ".join(
        f"{name} {growth_percent_per_hour(at_s, _used(fitted, name)):.1f}"
        for name in fitted[-1].databases
    )
    last = fitted[-1]
    kept = jobs_done_within(samples, phases.job_window_s)
    expected = "" if per_job is None else f" x {size(per_job)} per job = {size(kept * per_job)}"
    return [
        f"{title}: {len(fitted)} samples from {at_s[0]:.0f} s to {at_s[-1]:.0f} s",
        f"    databases and bucket: {growth:.1f} %/h of a plateau of {size(last.kept_bytes)} "
        f"(target < {GROWTH_TARGET_PERCENT_PER_H:g} %/h: "
        f"{_met(growth < GROWTH_TARGET_PERCENT_PER_H)})",
        f"    by database, %/h: {growth_by_database}",
        f"    jobs kept at the end ~ {kept:,.0f} (done in the last {phases.job_window_s:g} s)"
        f"{expected}, of the databases' {size(last.database_bytes)}",
    ]


def _too_few(fitted: Sequence[Sample]) -> str:
    if len(fitted) < MIN_FIT_SAMPLES:
        return f"{len(fitted)} samples in it ({MIN_FIT_SAMPLES} needed)"
    return "no job done in it"


def _calendars(last: Sample, fitted: Sequence[Sample], counts: Counts) -> str:
    files = last.blob_files.get(CALENDARS_FOLDER, 0)
    kept = last.blobs.get(CALENDARS_FOLDER, 0)
    downloaded = counts.result_bytes / counts.jobs_done if counts.jobs_done else 0.0
    line = (
        f"  calendar files (aside): {files:,} kept = {size(kept)}; {size(downloaded)} "
        f"downloaded per job"
    )
    if len(fitted) >= MIN_FIT_SAMPLES and fitted[-1].blobs.get(CALENDARS_FOLDER, 0):
        at_s = [sample.at_s for sample in fitted]
        kept_s = [sample.blobs.get(CALENDARS_FOLDER, 0) for sample in fitted]
        growth = growth_percent_per_hour(at_s, kept_s)
        line += f", growing {growth:.1f} %/h once steady"
    return line


def _dominant(at: Sample, fitted: Sequence[Sample], per_job: bool, when: str) -> list[str]:
    """The largest tables at a sample (with their indexes), with what each keeps per job or how
    fast each grows, fitted over `fitted`."""
    tables = [
        (name, table, count, db.tables_in_rows)
        for name, db in at.databases.items()
        for table, count in db.tables.items()
    ]
    tables.sort(key=lambda entry: entry[2], reverse=True)
    total = at.database_bytes or 1
    lines = [f"  what dominates the databases {when} (tables with their indexes):"]
    for name, table, count, in_rows in tables[:TOP_TABLES]:
        if not in_rows and count < total * TABLE_SHARE_SHOWN:
            break
        amount = f"{count:,} rows" if in_rows else f"{size(count)} ({count / total:.0%})"
        lines.append(f"    {name}.{table}: {amount}{_table_slope(fitted, name, table, per_job)}")
    return lines


def _table_slope(fitted: Sequence[Sample], name: str, table: str, per_job: bool) -> str:
    """What a table keeps per job, or gains per hour, fitted; nothing when too few samples."""
    if len(fitted) < MIN_FIT_SAMPLES or (per_job and fitted[0].jobs_done == fitted[-1].jobs_done):
        return ""
    counts = [s.databases[name].tables.get(table, 0) if name in s.databases else 0 for s in fitted]
    in_rows = fitted[-1].databases[name].tables_in_rows
    if per_job:
        slope = bytes_per_job([s.jobs_done for s in fitted], counts)
        return f", {slope:,.1f} rows per job" if in_rows else f", {size(slope)} per job"
    hourly = fit_line([s.at_s for s in fitted], counts)[0] * 3600
    return f", {hourly:+,.0f} rows/h" if in_rows else f", {size(hourly)}/h"


def _bodies(bodies: Bodies, total: int, when: str, jobs_kept: int = 0) -> list[str]:
    """The types of event whose bodies hold the most bytes, and what that is per job while every
    job is kept."""
    kinds = [
        (table, kind, rows, size_)
        for table, by_kind in bodies.items()
        for kind, (rows, size_) in by_kind.items()
    ]
    kinds.sort(key=lambda entry: entry[3], reverse=True)
    lines = [f"  whose bytes (bodies of events by type, {when}):"]
    for table, kind, rows, size_ in kinds[:TOP_TABLES]:
        if size_ < (total or 1) * TABLE_SHARE_SHOWN:
            break
        per_job = f", {size(size_ / jobs_kept)} per job" if jobs_kept else ""
        lines.append(
            f"    {table} {kind}: {rows:,} x {size(size_ / rows)} = {size(size_)} "
            f"({size_ / (total or 1):.0%} of the databases){per_job}"
        )
    return lines


def _used(samples: Sequence[Sample], name: str) -> list[int]:
    """A database's used bytes in each sample (0 before its file exists)."""
    return [s.databases[name].used_bytes if name in s.databases else 0 for s in samples]


def _met(met: bool) -> str:
    return "met" if met else "NOT met"
