"""The series the platform's alert rules and dashboards read (monitoring/catalogue.py, BACKEND):
`http_requests_total` and `http_request_duration_seconds` by method, route and status_code, and
`websys_active_users`. The process collector adds process_cpu_seconds_total and
process_resident_memory_bytes. Routes are the route templates, never raw paths, so a scan of
random URLs cannot create unbounded series."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector


class Metrics:
    def __init__(self, active_users: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        labels = ("method", "route", "status_code")
        self.requests = Counter("http_requests_total", "HTTP requests answered", labels, registry=self.registry)
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            labels,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.active_users = Gauge(
            "websys_active_users", "Users with a request in the last five minutes", registry=self.registry
        )
        self.active_users.set_function(active_users)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        values = (method, route, str(status))
        self.requests.labels(*values).inc()
        self.duration.labels(*values).observe(seconds)
