# The backup job's image: PostgreSQL 15's client tools (pg_dump, pg_restore) and `websys`.
# In development `pulumi up` builds it (websys:images.build); for staging and production build and
# push it (from the repository root), then pin its tag or digest in `websys:backup.image`:
#   docker build -f docker/backup.Dockerfile -t registry.example.com/websys/backup:1.0.0 .
#   docker push registry.example.com/websys/backup:1.0.0
# Python packages come from PyPI, pinned by docker/backup-requirements.txt; a machine that cannot
# reach PyPI puts the wheels in docker/wheels/ first (`make wheels`) and the build installs from there.
# BASE_IMAGE: any Debian 12 image (the tests build on a local one).
ARG BASE_IMAGE=debian:12.12-slim
FROM ${BASE_IMAGE}

# Debian bookworm's PostgreSQL is 15, the server's major version: pg_dump must not be older.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv postgresql-client-15 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 1000 --user-group --no-create-home --shell /usr/sbin/nologin websys

WORKDIR /opt/websys/src
# `docker/wheels*` matches nothing on most machines, which COPY accepts beside a file that exists.
COPY docker/backup-requirements.txt docker/wheels* /opt/websys/wheels/
RUN python3 -m venv /opt/websys/venv \
    && if ls /opt/websys/wheels/*.whl >/dev/null 2>&1; then offline="--no-index --find-links /opt/websys/wheels"; fi \
    && /opt/websys/venv/bin/pip install --no-cache-dir --disable-pip-version-check $offline \
        -r /opt/websys/wheels/backup-requirements.txt \
    && rm -rf /opt/websys/wheels
COPY pyproject.toml requirements.txt ./
COPY websys ./websys
COPY components ./components
COPY monitoring ./monitoring
RUN /opt/websys/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation . \
    && cd / && rm -rf /opt/websys/src

# Dumps stream from pg_dump to S3 and back: nothing is written to disk, so the root filesystem can be read-only.
ENV PATH=/opt/websys/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 1000:1000
WORKDIR /
EXPOSE 9188
ENTRYPOINT ["websys"]
CMD ["backup", "--help"]
