"""`python -m services.edge` with settings from the environment."""

from services.edge.app import create_app
from shared.app.serve import serve

if __name__ == "__main__":
    serve(create_app, service="todo_api")
