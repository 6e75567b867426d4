"""The development emulator and `make run`: everything production does without.

- `transport/`: SNS/SQS semantics on one SQLite file (TRANSPORT=embedded), found by
  shared/messaging/transports.py when asked for;
- `file_blobs.py`: the blob store in a folder, S3's stand-in;
- `run.py`: the whole system in one process (`python -m embedded`, what `make run` starts).

The production image copies none of it; the project's `embedded` extra installs what it needs.
"""
