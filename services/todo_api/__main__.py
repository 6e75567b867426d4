"""`python -m services.todo_api`: serve the todo API with settings from the environment."""

from aiohttp import web

from services.todo_api.app import create_app
from shared.logs import configure_logging
from shared.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    web.run_app(create_app(settings), host=settings.http_host, port=settings.http_port, print=None)


if __name__ == "__main__":
    main()
