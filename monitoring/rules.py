"""Alert rules and their unit tests (`promtool test rules`), from the thresholds in the settings.

Each rule carries its own test cases: input series that put it just past its threshold (it fires,
with exactly these labels and annotations) and just short of it (it does not). The rules file and
the test file are rendered from the same definitions, so a changed threshold moves both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import yaml

from monitoring.targets import Target, scrape_jobs
from websys import naming
from websys.backup.schedule import parse_cron
from websys.settings import Settings
from websys.settings.text import promql_string

Severity = Literal["warning", "critical"]
GROUP_NAME = "websys.rules"
RULES_FILE = "websys.rules.yml"  # in prometheus/rules/
TESTS_FILE = "websys.rules.test.yml"  # in prometheus/tests/, beside rules/
RULES_FROM_TESTS = f"../rules/{RULES_FILE}"

_FS_FILTER = 'fstype!~"tmpfs|overlay|squashfs|nsfs"'
_LABEL_TEMPLATE = re.compile(r"\{\{\s*\$labels\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Series:
    series: str  # 'metric{label="value"}'
    values: str  # promtool's expanding notation, e.g. '0+1x10'


@dataclass(frozen=True)
class Case:
    """One `promtool test rules` case: series, a time, and the alert expected (or none)."""

    description: str
    series: tuple[Series, ...]
    eval_time: str
    labels: dict[str, str] | None  # the alert's labels (besides alertname and severity); None: must not fire
    interval: str = "1m"


@dataclass(frozen=True)
class AlertRule:
    name: str
    expr: str
    for_: str
    severity: Severity
    summary: str
    description: str
    runbook: str
    cases: tuple[Case, ...] = field(default_factory=tuple)

    def annotations(self) -> dict[str, str]:
        return {"summary": self.summary, "description": self.description, "runbook": self.runbook}


def _series(metric: str, labels: dict[str, str]) -> str:
    inner = ",".join(f"{key}={promql_string(value)}" for key, value in sorted(labels.items()))
    return f"{metric}{{{inner}}}"


def _num(value: float) -> str:
    """A float as promtool's series notation wants it (no exponent, no trailing zeros)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def _target(settings: Settings, job: str) -> Target:
    for scrape_job in scrape_jobs(settings):
        if scrape_job.name == job and scrape_job.targets:
            return scrape_job.targets[0]
    raise LookupError(f"no target in job {job!r}")


def _instance(settings: Settings, job: str) -> dict[str, str]:
    """The labels Prometheus gives a series scraped from the first target of `job`."""
    target = _target(settings, job)
    return {"instance": target.address, "job": job, **target.labels}


def _pair(
    description: str,
    metric: str,
    labels: dict[str, str],
    firing: str,
    quiet: str,
    eval_time: str,
    expected: dict[str, str] | None = None,
) -> tuple[Case, Case]:
    """A firing and a quiet case over a single series."""
    series = _series(metric, labels)
    alert_labels = labels if expected is None else expected
    return (
        Case(f"{description}: fires", (Series(series, firing),), eval_time, alert_labels),
        Case(f"{description}: stays quiet", (Series(series, quiet),), eval_time, None),
    )


def alert_rules(settings: Settings) -> list[AlertRule]:
    t = settings.monitoring.thresholds
    node = _instance(settings, "node")
    postgres = _instance(settings, "postgres")
    redis = _instance(settings, "redis")
    prometheus = _instance(settings, "prometheus")
    alertmanager = _instance(settings, "alertmanager")
    backup = _instance(settings, "backup")
    cadvisor = _instance(settings, "cadvisor")

    cpu_busy = (t.cpu_percent + 1) / 100, (t.cpu_percent - 1) / 100
    idle = {**node, "cpu": "0", "mode": "idle"}
    mem_total = 8 * 1024**3
    disk = {**node, "device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/"}
    disk_size = 100 * 1024**3
    fs_free_pct = f"100 * node_filesystem_avail_bytes{{{_FS_FILTER}}} / node_filesystem_size_bytes{{{_FS_FILTER}}}"
    backend_blue = {"job": "backend", "color": "blue", "instance": _target(settings, "backend").address}
    max_age = t.backup_max_age_hours * 3600
    drill_age = _drill_max_age(settings.backup.verify_schedule)
    container = {
        **cadvisor,
        "id": "/docker/0123abcd",
        "image": settings.postgres.image,
        "name": naming.postgres_primary(settings.environment),
    }

    def error_case(description: str, errors: int, labels: dict[str, str] | None) -> Case:
        ok, error = (
            _series("http_requests_total", {**backend_blue, "status_code": "200"}),
            _series("http_requests_total", {**backend_blue, "status_code": "500"}),
        )
        # 100 requests a minute, `errors` of them 5xx.
        return Case(
            description,
            (Series(ok, f"0+{100 - errors}x20"), Series(error, f"0+{errors}x20")),
            "15m",
            labels,
        )

    error_pct = round(t.error_rate * 100)
    rules = [
        AlertRule(
            "HighCPUUsage",
            f'100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle"}}[5m]))) > {_num(t.cpu_percent)}',
            "5m",
            "warning",
            "CPU of {{ $labels.instance }} above " + _num(t.cpu_percent) + "% for 5 minutes",
            "The host's CPUs have been busier than the threshold for five minutes.",
            "Find the busy containers on the System dashboard (CPU by container); scale the backend or move load.",
            (
                Case(
                    f"CPU {_num(t.cpu_percent + 1)}% busy: fires",
                    (Series(_series("node_cpu_seconds_total", idle), f"0+{_num(60 * (1 - cpu_busy[0]))}x20"),),
                    "15m",
                    {"instance": node["instance"]},
                ),
                Case(
                    f"CPU {_num(t.cpu_percent - 1)}% busy: stays quiet",
                    (Series(_series("node_cpu_seconds_total", idle), f"0+{_num(60 * (1 - cpu_busy[1]))}x20"),),
                    "15m",
                    None,
                ),
            ),
        ),
        AlertRule(
            "DatabaseConnectionError",
            "pg_up == 0",
            "1m",
            "critical",
            "postgres_exporter cannot connect to {{ $labels.server }}",
            "PostgreSQL server {{ $labels.server }} ({{ $labels.role }}) refuses or drops connections.",
            "docker logs {{ $labels.server }}; check the container's health, disk space and max_connections.",
            _pair("pg_up 0", "pg_up", postgres, "0x10", "1x10", "5m"),
        ),
        AlertRule(
            "HighErrorRate",
            f'sum by (color) (rate(http_requests_total{{job="backend",status_code=~"5.."}}[5m]))'
            f' / sum by (color) (rate(http_requests_total{{job="backend"}}[5m])) > {_num(t.error_rate)}',
            "2m",
            "warning",
            "More than " + _num(t.error_rate * 100) + "% of {{ $labels.color }} backend requests fail with 5xx",
            "The share of HTTP 5xx responses among the backend's requests of one color is above the threshold.",
            "If {{ $labels.color }} was just deployed, switch traffic back to the other color; else read its logs.",
            (
                error_case(f"{error_pct + 1}% errors: fires", error_pct + 1, {"color": "blue"}),
                error_case(f"{error_pct - 1}% errors: stays quiet", error_pct - 1, None),
            ),
        ),
        AlertRule(
            "TargetDown",
            "up == 0",
            "2m",
            "warning",
            "{{ $labels.job }} target {{ $labels.instance }} is down",
            "Prometheus could not scrape {{ $labels.instance }} for two minutes.",
            "docker ps -a --filter name={{ $labels.instance }}; check its healthcheck and logs.",
            _pair("up 0", "up", backup, "0x10", "1x10", "5m"),
        ),
        AlertRule(
            "PostgresReplicationLag",
            f'pg_replication_lag_seconds{{role="replica"}} > {t.replication_lag_seconds}',
            "2m",
            "warning",
            "Replica {{ $labels.server }} lags the primary",
            f"The replica replays WAL more than {t.replication_lag_seconds}s behind the primary.",
            "Check the replica's disk and network; pg_stat_replication on the primary shows the sender.",
            _pair(
                "lag",
                "pg_replication_lag_seconds",
                {**postgres, "role": "replica"},
                f"{t.replication_lag_seconds + 1}x10",
                f"{t.replication_lag_seconds - 1 if t.replication_lag_seconds > 1 else 0}x10",
                "5m",
            ),
        ),
        AlertRule(
            "PostgresReplicationSlotInactive",
            "pg_replication_slot_slot_is_active == 0",
            "5m",
            "warning",
            "Replication slot {{ $labels.slot_name }} on {{ $labels.server }} is inactive",
            "No replica uses the slot; the primary keeps WAL for it up to max_slot_wal_keep_size.",
            "Start the replica that owns the slot, or drop the slot: SELECT pg_drop_replication_slot('...').",
            _pair(
                "slot inactive",
                "pg_replication_slot_slot_is_active",
                {**postgres, "slot_name": "replica_1", "slot_type": "physical"},
                "0x10",
                "1x10",
                "8m",
            ),
        ),
        AlertRule(
            "RedisDown",
            "redis_up == 0",
            "1m",
            "critical",
            "Redis {{ $labels.server }} is down",
            "redis_exporter cannot reach Redis.",
            "docker logs {{ $labels.server }}; check the password, memory limit and the AOF file.",
            _pair("redis_up 0", "redis_up", redis, "0x10", "1x10", "5m"),
        ),
        AlertRule(
            "RedisAofWriteFailure",
            "redis_aof_last_write_status == 0",
            "1m",
            "critical",
            "Redis {{ $labels.server }} cannot write its append-only file",
            "The last AOF write failed: writes since then are not durable.",
            "Check the Redis volume's free space and permissions; redis-cli INFO persistence.",
            _pair("aof write failed", "redis_aof_last_write_status", redis, "0x10", "1x10", "5m"),
        ),
        AlertRule(
            "HostDiskSpaceLow",
            f"{fs_free_pct} < {_num(t.disk_free_warning_percent)}",
            "5m",
            "warning",
            "{{ $labels.mountpoint }} on {{ $labels.instance }} has little space left",
            f"Less than {_num(t.disk_free_warning_percent)}% of the filesystem is free.",
            "docker system df; prune old images; check Prometheus retention and PostgreSQL WAL.",
            _disk_cases(disk, disk_size, t.disk_free_warning_percent),
        ),
        AlertRule(
            "HostDiskSpaceCritical",
            f"{fs_free_pct} < {_num(t.disk_free_critical_percent)}",
            "5m",
            "critical",
            "{{ $labels.mountpoint }} on {{ $labels.instance }} is almost full",
            f"Less than {_num(t.disk_free_critical_percent)}% of the filesystem is free; databases stop when it is.",
            "Free space now (docker image prune, old logs); then grow the disk.",
            _disk_cases(disk, disk_size, t.disk_free_critical_percent),
        ),
        AlertRule(
            "HostMemoryPressure",
            f"100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) > {_num(t.memory_percent)}",
            "5m",
            "warning",
            "Memory of {{ $labels.instance }} above " + _num(t.memory_percent) + "% in use",
            "Little memory is available; the kernel may start killing containers.",
            "Find the largest containers on the System dashboard; lower limits or add memory.",
            _memory_cases(node, mem_total, t.memory_percent),
        ),
        AlertRule(
            "ContainerRestarting",
            f'changes(container_start_time_seconds{{name=~"websys-.+"}}[15m]) >= {t.container_restarts}',
            "0s",
            "warning",
            "Container {{ $labels.name }} keeps restarting",
            f"It started {t.container_restarts} times or more within 15 minutes.",
            "docker logs {{ $labels.name }}; docker inspect it for OOMKilled and the exit code.",
            _restart_cases(container, t.container_restarts),
        ),
        AlertRule(
            "BackupMissing",
            f"time() - websys_backup_last_success_timestamp_seconds > {max_age}",
            "5m",
            "critical",
            f"No successful database backup in the last {t.backup_max_age_hours} hours",
            "The backup job has not reported a successful backup in time.",
            "docker logs of the backup job; run `websys backup` by hand and `websys verify-backup`.",
            _backup_cases(backup, max_age),
        ),
        AlertRule(
            "BackupDrillFailing",
            # The last drill failed, or none succeeded within the drill schedule's longest gap
            # (counted from the job's start, so a restarted job gets its first drill's time).
            "websys_backup_verify_last_failure_timestamp_seconds > websys_backup_verify_last_success_timestamp_seconds"
            " or time() - (websys_backup_verify_last_success_timestamp_seconds"
            " > websys_backup_started_timestamp_seconds or websys_backup_started_timestamp_seconds)"
            f" > {drill_age}",
            "5m",
            "critical",
            "The restore drill of {{ $labels.database }} failed or did not run",
            "The latest backup could not be restored and verified (verify-backup), or no drill "
            f"succeeded within {drill_age // 3600} hours: a restore may not work when it is needed.",
            "docker logs of the backup job name the cause; run `websys verify-backup` in its container "
            "(docs/backups-drills.md).",
            _drill_cases(backup, drill_age),
        ),
        AlertRule(
            "PrometheusRuleEvaluationFailures",
            "increase(prometheus_rule_evaluation_failures_total[5m]) > 0",
            "0s",
            "warning",
            "Prometheus fails to evaluate rules in {{ $labels.rule_group }}",
            "Some alerts of this group cannot fire while their evaluation fails.",
            "Prometheus's log names the failing rule; check it with promtool against live data.",
            _pair(
                "rule evaluation failures",
                "prometheus_rule_evaluation_failures_total",
                {**prometheus, "rule_group": "/etc/prometheus/rules/websys.rules.yml;websys.rules"},
                "0+1x10",
                "3x10",
                "8m",
            ),
        ),
        AlertRule(
            "PrometheusNotificationsFailing",
            "rate(prometheus_notifications_errors_total[5m]) > 0",
            "5m",
            "critical",
            "Prometheus cannot send alerts to {{ $labels.alertmanager }}",
            "Alerts are not reaching Alertmanager, so no one is notified of them.",
            "Check that Alertmanager is up and that Prometheus reaches it on the monitoring network.",
            _pair(
                "notification errors",
                "prometheus_notifications_errors_total",
                {**prometheus, "alertmanager": f"http://{alertmanager['instance']}/api/v2/alerts"},
                "0+1x15",
                "2x15",
                "12m",
            ),
        ),
        AlertRule(
            "AlertmanagerNotificationsFailing",
            "rate(alertmanager_notifications_failed_total[5m]) > 0",
            "5m",
            "critical",
            "Alertmanager fails to notify through {{ $labels.integration }}",
            "Notifications to a receiver fail, so alerts reach no one through it.",
            "Alertmanager's log shows the error; check the receiver's URL, credentials and egress.",
            _pair(
                "notification failures",
                "alertmanager_notifications_failed_total",
                {**alertmanager, "integration": "email"},
                "0+1x15",
                "2x15",
                "12m",
            ),
        ),
    ]
    return rules


def _disk_cases(disk: dict[str, str], size: int, threshold: float) -> tuple[Case, ...]:
    def case(description: str, free_pct: float, fires: bool) -> Case:
        return Case(
            description,
            (
                Series(_series("node_filesystem_avail_bytes", disk), f"{_num(size * free_pct / 100)}x15"),
                Series(_series("node_filesystem_size_bytes", disk), f"{size}x15"),
            ),
            "10m",
            disk if fires else None,
        )

    return (
        case(f"{_num(threshold - 1)}% free: fires", threshold - 1, True),
        case(f"{_num(threshold + 1)}% free: stays quiet", threshold + 1, False),
    )


def _memory_cases(node: dict[str, str], total: int, threshold: float) -> tuple[Case, ...]:
    def case(description: str, used_pct: float, fires: bool) -> Case:
        available = total * (100 - used_pct) / 100
        return Case(
            description,
            (
                Series(_series("node_memory_MemAvailable_bytes", node), f"{_num(available)}x15"),
                Series(_series("node_memory_MemTotal_bytes", node), f"{total}x15"),
            ),
            "10m",
            node if fires else None,
        )

    return (
        case(f"{_num(threshold + 1)}% used: fires", threshold + 1, True),
        case(f"{_num(threshold - 1)}% used: stays quiet", threshold - 1, False),
    )


def _restart_cases(container: dict[str, str], restarts: int) -> tuple[Case, ...]:
    def values(starts: int) -> str:
        # A start time that changes `starts` times, one minute apart, then stays.
        return " ".join(str(1000 + 60 * min(step, starts)) for step in range(16))

    series = _series("container_start_time_seconds", container)
    return (
        Case(f"{restarts} restarts: fires", (Series(series, values(restarts)),), "15m", container),
        Case(f"{restarts - 1} restarts: stays quiet", (Series(series, values(restarts - 1)),), "15m", None),
    )


def _backup_cases(backup: dict[str, str], max_age: int) -> tuple[Case, ...]:
    # Evaluated at t=30m (time() is 1800 there); the last success is 10 minutes past the limit, or
    # 10 minutes short of it. Timestamps before the test's start are negative, which is fine.
    now = 30 * 60

    def case(description: str, age: int, fires: bool) -> Case:
        series = Series(_series("websys_backup_last_success_timestamp_seconds", backup), f"{now - age}x40")
        return Case(description, (series,), "30m", backup if fires else None)

    return (
        case("last success 10 minutes past the limit: fires", max_age + 600, True),
        case("last success 10 minutes within the limit: stays quiet", max_age - 600, False),
    )


def _drill_max_age(schedule: str) -> int:
    """Seconds: the drill schedule's longest gap between two runs over a year, plus 3 hours for a run."""
    cron = parse_cron(schedule)
    moment = cron.next_after(datetime(2024, 1, 1, tzinfo=UTC))  # a fixed leap year: the same rule every time
    end = moment + timedelta(days=366)
    longest = 0.0
    for _ in range(10_000):
        following = cron.next_after(moment)
        longest = max(longest, (following - moment).total_seconds())
        if following > end:
            break
        moment = following
    return int(longest) + 3 * 3600


def _drill_cases(backup: dict[str, str], max_age: int) -> tuple[Case, ...]:
    labels = {**backup, "database": "websys"}
    now = 30 * 60  # evaluated at t=30m; earlier times are negative, which is fine

    def case(description: str, success: int, failure: int, started: int, fires: bool) -> Case:
        series = (
            Series(_series("websys_backup_verify_last_success_timestamp_seconds", labels), f"{success}x40"),
            Series(_series("websys_backup_verify_last_failure_timestamp_seconds", labels), f"{failure}x40"),
            Series(_series("websys_backup_started_timestamp_seconds", labels), f"{started}x40"),
        )
        return Case(description, series, "30m", labels if fires else None)

    long_ago = now - 2 * max_age
    # "Never" is 0 in the job's metrics: before any start time. The test's clock starts at 0, so
    # its past is negative, and "never" here is further back than anything else.
    never = now - 100 * max_age
    return (
        case("the last drill failed: fires", now - 3600, now - 600, long_ago, True),
        case("a drill succeeded after a failure: stays quiet", now - 600, now - 3600, long_ago, False),
        case("no drill for 10 minutes past the limit: fires", now - max_age - 600, never, long_ago, True),
        case("a drill 10 minutes within the limit: stays quiet", now - max_age + 600, never, long_ago, False),
        case("never drilled, job started within the limit: stays quiet", never, never, now - max_age + 600, False),
        case("never drilled, job started past the limit: fires", never, never, now - max_age - 600, True),
    )


def _expand(template: str, labels: dict[str, str]) -> str:
    return _LABEL_TEMPLATE.sub(lambda match: labels.get(match.group(1), ""), template)


def rules_document(settings: Settings) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for rule in alert_rules(settings):
        entry: dict[str, Any] = {"alert": rule.name, "expr": rule.expr}
        if rule.for_ != "0s":
            entry["for"] = rule.for_
        entry["labels"] = {"severity": rule.severity}
        entry["annotations"] = rule.annotations()
        rules.append(entry)
    return {"groups": [{"name": GROUP_NAME, "rules": rules}]}


def render_rules(settings: Settings) -> str:
    header = f"# Alert rules of websys {settings.environment}: rendered from the stack settings; do not edit.\n"
    return header + yaml.safe_dump(rules_document(settings), sort_keys=False, width=200)


def tests_document(settings: Settings) -> dict[str, Any]:
    tests: list[dict[str, Any]] = []
    for rule in alert_rules(settings):
        for case in rule.cases:
            expected: list[dict[str, Any]] = []
            if case.labels is not None:
                labels = {**case.labels, "severity": rule.severity}
                expected.append(
                    {
                        "exp_labels": dict(sorted(labels.items())),
                        "exp_annotations": {key: _expand(value, labels) for key, value in rule.annotations().items()},
                    }
                )
            tests.append(
                {
                    "name": f"{rule.name}: {case.description}",
                    "interval": case.interval,
                    "input_series": [{"series": s.series, "values": s.values} for s in case.series],
                    "alert_rule_test": [{"eval_time": case.eval_time, "alertname": rule.name, "exp_alerts": expected}],
                }
            )
    return {
        "rule_files": [RULES_FROM_TESTS],
        "evaluation_interval": "1m",
        "tests": tests,
    }


def render_rules_tests(settings: Settings) -> str:
    header = "# promtool test rules: each alert fires just past its threshold and stays quiet just short of it.\n"
    return header + yaml.safe_dump(tests_document(settings), sort_keys=False, width=200)
