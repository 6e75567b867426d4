"""The embedded transport: SNS/SQS semantics on one SQLite file, for `make run` without AWS.

`clients.open_clients(settings)` is the entry point; the modules below it each do one job.
"""
