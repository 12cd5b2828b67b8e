"""The WebSys reference backend: a small WSGI application over PostgreSQL and Redis.

It exists to show, and to test, the contract every WebSys backend image meets (docs/reference-app.md):
/health checks its dependencies, /metrics exposes the series the alert rules and dashboards read,
and the API reads and writes PostgreSQL with Redis as a cache.
"""
