"""`python -m services.calendar_worker` with settings from the environment."""

from services.calendar_worker.app import create_app
from shared.app.serve import serve

if __name__ == "__main__":
    serve(create_app, service="calendar_worker")
