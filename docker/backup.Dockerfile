# The backup job's image: Python, PostgreSQL 15's client tools (pg_dump, pg_restore) and `websys`.
# Build and push it (from the repository root), then pin its tag in `websys:backup.image`:
#   docker build -f docker/backup.Dockerfile -t registry.websys.company.com/websys/backup:1.0.0 .
#   docker push registry.websys.company.com/websys/backup:1.0.0
FROM python:3.11-slim-bookworm

# Debian bookworm's PostgreSQL is 15, the server's major version: pg_dump must not be older.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 1000 --user-group --no-create-home --shell /usr/sbin/nologin websys

WORKDIR /opt/websys
COPY requirements.txt pyproject.toml ./
RUN pip install --no-cache-dir --disable-pip-version-check -r requirements.txt
COPY websys ./websys
COPY components ./components
COPY monitoring ./monitoring
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps . && rm -rf /opt/websys/build

# Dumps stream from pg_dump to S3 and back: nothing is written to disk, so the root filesystem can be read-only.
USER 1000:1000
EXPOSE 9188
ENTRYPOINT ["websys"]
CMD ["backup", "--help"]
