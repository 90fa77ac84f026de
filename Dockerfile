# pims-sync: one image for the API, workers, beat, Flower and the simulator.
# Chromium comes from Debian (Playwright drives the system browser; it downloads nothing): the
# image runs headless only, so it carries chromium-headless-shell, which the workers' lookup
# (pims_sync/providers/idexx/chromium.py) prefers for headless logins, and not the full browser;
# tini is PID 1 so a stopped container reaps Chromium's processes instead of leaving zombies.
#
# With no command the image serves the HTTP API on $PORT (3001, the port the TypeScript service's
# `docker run -p 5050:3001 ...` line maps), in production mode. The whole system (workers, beat,
# Redis, Postgres) needs docker-compose.yml, which runs this same image in every role.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=3001

RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium-headless-shell tini fonts-liberation ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md celeryconfig.py ./
COPY supabase ./supabase
COPY pims_sync ./pims_sync
COPY workers ./workers
COPY api ./api
COPY bench ./bench
RUN pip install . \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /data && chown app:app /data

USER app
ENTRYPOINT ["/usr/bin/tini", "--"]
EXPOSE 3001
CMD ["pims-sync", "api"]
