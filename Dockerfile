# staticip-bot: the same steps as the README's venv install, in a slim image, with the
# PostgreSQL driver (the `postgres` extra) so that one image serves SQLite and PostgreSQL.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --user-group bot \
    && mkdir -p /data \
    && chown bot:bot /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install '.[postgres]'

ENV PATH=/opt/venv/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATABASE_URL=sqlite:////data/staticip-bot.db

USER bot
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'); sys.exit(0 if urllib.request.urlopen(url, timeout=2).status == 200 else 1)"]

CMD ["staticip-bot"]
