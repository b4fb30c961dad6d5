# syntax=docker/dockerfile:1
#
# Aftercare Exchange — production image.
#
#   docker build -t aftercare-exchange .
#
# Needs at run time: AFTERCARE_DATABASE_URL and AFTERCARE_KEYS_DIR (a mounted volume holding
# keyset.json and the PEMs made by `aftercare keys rotate`). Migrations are a release step:
# `docker run … aftercare-exchange aftercare db upgrade`. See docs/operations.md, "Running in production".
#
# Layout: the virtual environment lives in /opt/venv and the source tree in /app, at the same paths
# in both stages. The project is installed into the venv in *editable* mode on purpose:
# app/db/migrations.py finds alembic.ini and alembic/ at parents[2] of its own file, i.e. the
# project root. An editable install keeps `app` importing from /app/app, so that root is /app for
# every entry point (the `aftercare` console script, `python -m app`, uvicorn). A regular wheel
# install would put the package in site-packages, where parents[2] is site-packages itself and
# "alembic/" is the Alembic library, not our migrations.

############################ builder: dependencies and the project in /opt/venv
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /app

# Dependencies first, from the lock file alone (exact versions, hashes checked), so this layer
# is reused until the lock changes and two builds install the same bytes. `make lock` refreshes
# it from pyproject.toml. (Every runtime dependency ships manylinux wheels; no compiler is needed.)
COPY requirements/runtime.lock ./requirements/runtime.lock
RUN pip install --require-hashes -r requirements/runtime.lock

# The project itself. README.md is read by the build (pyproject `readme`); alembic.ini and alembic/
# are needed at run time next to app/ (see above).
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY app ./app
RUN pip install --no-deps --editable . \
    && python -m compileall -q /app/app /app/alembic

############################ runtime: the venv and the source tree, nothing else
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AFTERCARE_ENV=production

# An unprivileged user, and /keys as a mount point it owns (a new named volume mounted there
# inherits that ownership, so `aftercare keys rotate` can write to it).
RUN groupadd --system --gid 10001 aftercare \
    && useradd --system --uid 10001 --gid aftercare --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin aftercare \
    && install -d -o aftercare -g aftercare -m 0700 /keys

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app

WORKDIR /app
USER 10001:10001

EXPOSE 8000

# No curl in the slim image: ask Python. Any non-2xx or connection error exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3).status == 200 else 1)"]

# The app writes its own access log (no query strings), hence --no-access-log. --proxy-headers
# trusts X-Forwarded-* only from FORWARDED_ALLOW_IPS (uvicorn's default: 127.0.0.1).
CMD ["uvicorn", "--factory", "app.main:create_app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--proxy-headers", "--http", "app.api.http_server:RenewedConnections"]
