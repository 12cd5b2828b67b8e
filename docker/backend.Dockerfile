# The WebSys reference backend (app/backend). Build context: the repository's app/ folder.
#   docker build -f docker/backend.Dockerfile -t registry.example.com/websys/backend:1.0.0 app
# Every dependency is a Debian bookworm package, so the build needs Debian's mirror and nothing else.
# BASE_IMAGE: any Debian 12 image (the tests build on a local one); bump the default with Debian's
# point releases.
ARG BASE_IMAGE=debian:12.12-slim
FROM ${BASE_IMAGE}

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3 python3-psycopg python3-redis python3-prometheus-client python3-jwt python3-waitress \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 1000 --user-group --no-create-home --shell /usr/sbin/nologin websys

# The healthcheck contract: the program runs `websys-healthcheck http://127.0.0.1:<port><path>`
# (the file is executable in the repository; COPY keeps its mode).
COPY healthcheck/websys-healthcheck /usr/local/bin/websys-healthcheck
COPY backend/websys_backend /opt/websys/websys_backend

# Read-only root: no bytecode is written at run time; /tmp is the program's tmpfs.
ENV PYTHONPATH=/opt/websys PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8000
USER 1000:1000
EXPOSE 8000
CMD ["python3", "-m", "websys_backend"]
