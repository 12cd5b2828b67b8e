# The WebSys reference frontend (app/frontend): a static page on PORT (3000), and /config.json with
# the API's address from VITE_API_BASE_URL. Build context: the repository's app/ folder.
#   docker build -f docker/frontend.Dockerfile -t registry.example.com/websys/frontend:1.0.0 app
# BASE_IMAGE: any Debian 12 image (the tests build on a local one).
ARG BASE_IMAGE=debian:12.12-slim
FROM ${BASE_IMAGE}

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 1000 --user-group --no-create-home --shell /usr/sbin/nologin websys

# The healthcheck contract (docs/reference-app.md); the file is executable in the repository.
COPY healthcheck/websys-healthcheck /usr/local/bin/websys-healthcheck
COPY frontend/websys_frontend /opt/websys/websys_frontend

ENV PYTHONPATH=/opt/websys PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=3000
USER 1000:1000
EXPOSE 3000
CMD ["python3", "-m", "websys_frontend.server"]
