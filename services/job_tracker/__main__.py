"""`python -m services.job_tracker` with settings from the environment."""

from services.job_tracker.app import create_app
from shared.app.serve import serve

if __name__ == "__main__":
    serve(create_app, service="job_tracker")
