"""todo_api with the job tracker's reads in its own process: `python -m services.edge`.

A status poll then costs one HTTP request and one query, not a second request to the tracker.
The job routes are answered by the tracker's own views on a tracker reader (its tables, blob
store and job changes; no consumer) over JOB_TRACKER_DATABASE_SCHEMA; the tracker itself goes on
folding the jobs in its own processes, and its LISTEN/NOTIFY reaches the reader's event streams.
This package is where the two services meet; neither imports the other.
"""
