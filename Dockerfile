# One image for every service; the command picks it: python -m services.<name>
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=6400

WORKDIR /app
RUN useradd --create-home --uid 10001 app

# dependencies first, from pyproject.toml alone, so a code change reuses this layer
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install -r requirements.txt

# the code runs from /app (python -m puts it first on sys.path); nothing else is copied
COPY shared ./shared
COPY services ./services
COPY scripts ./scripts

USER app
EXPOSE 6400
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=5 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('HTTP_PORT', '6400') + '/api/v1/health', timeout=2)"]
CMD ["python", "-m", "services.todo_api"]
