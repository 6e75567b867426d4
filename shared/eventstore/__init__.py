"""The event log and its database: append-only streams with optimistic concurrency, the
committed horizon readers may trust, operators' queries over the whole log, the engines
(PostgreSQL, or SQLite on the event loop), schema upgrades and leases.
"""
