"""What the embedded stack's files hold on disk: each SQLite database (and its tables), the blobs.

Databases are read through read-only connections while the services write: no checkpoint is
forced, so the soak measures the stack as it runs. `page_count - freelist_count` pages, as a
reader sees them, include what is still only in the WAL (its last commit gives the size), so the
used bytes are the data kept; the WAL file's length is reported beside, as disk the services'
own checkpoints bound, not data.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from pathlib import Path

from bench.soak_figures import DatabaseSize

BUSY_TIMEOUT_S = 10.0


def database_sizes(var_dir: Path) -> dict[str, DatabaseSize]:
    """Each `<name>.db` under `var_dir`, by name."""
    return {path.stem: database_size(path) for path in sorted(var_dir.glob("*.db"))}


def database_size(path: Path) -> DatabaseSize:
    wal = path.with_name(path.name + "-wal")
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    with contextlib.closing(
        sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    ) as conn:
        # one read transaction: the page counts and the tables come from the same snapshot
        conn.execute("BEGIN")
        page_size = _pragma(conn, "page_size")
        used_pages = _pragma(conn, "page_count") - _pragma(conn, "freelist_count")
        try:
            tables, in_rows = _table_bytes(conn), False
        except sqlite3.OperationalError:
            # a SQLite built without SQLITE_ENABLE_DBSTAT_VTAB
            tables, in_rows = _table_rows(conn), True
        conn.rollback()
    return DatabaseSize(used_pages * page_size, wal_bytes, tables, in_rows)


def _pragma(conn: sqlite3.Connection, name: str) -> int:
    return int(conn.execute(f"PRAGMA {name}").fetchone()[0])


def _table_bytes(conn: sqlite3.Connection) -> dict[str, int]:
    """Bytes of each table's pages with its indexes' pages (the schema's own under its name)."""
    owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_schema").fetchall())
    # aggregate: one row per b-tree instead of one per page
    rows = conn.execute("SELECT name, pgsize FROM dbstat WHERE aggregate = TRUE").fetchall()
    total: Counter[str] = Counter()
    for name, size in rows:
        total[owner.get(name, name)] += int(size)
    return dict(total)


def _table_rows(conn: sqlite3.Connection) -> dict[str, int]:
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {
        name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]) for name in names
    }


def body_sizes(var_dir: Path) -> dict[str, dict[str, tuple[int, int]]]:
    """Rows and bytes of body of each type, in every table of events (a `type` and a `body`)
    of every database under `var_dir`, by `<database>.<table>`: what a table's bytes are."""
    found: dict[str, dict[str, tuple[int, int]]] = {}
    for path in sorted(var_dir.glob("*.db")):
        with contextlib.closing(
            sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        ) as conn:
            for table in _tables_with(conn, {"type", "body"}):
                rows = conn.execute(
                    f'SELECT type, count(*), sum(length(CAST(body AS BLOB))) FROM "{table}" '
                    "GROUP BY type"
                ).fetchall()
                found[f"{path.stem}.{table}"] = {kind: (n, int(size)) for kind, n, size in rows}
    return found


def _tables_with(conn: sqlite3.Connection, columns: set[str]) -> list[str]:
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return [
        name
        for name in names
        if columns <= {row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')}
    ]


def blob_sizes(var_dir: Path, folder: str) -> tuple[dict[str, int], dict[str, int]]:
    """Bytes and files under each top folder of `<var_dir>/<folder>/` (a file at the top counts
    under its own name)."""
    sizes: Counter[str] = Counter()
    files: Counter[str] = Counter()
    root = var_dir / folder
    for path in root.rglob("*") if root.exists() else ():
        with contextlib.suppress(FileNotFoundError):  # a blob deleted or renamed meanwhile
            if path.is_file():
                top = path.relative_to(root).parts[0]
                sizes[top] += path.stat().st_size
                files[top] += 1
    return dict(sizes), dict(files)
