"""Every rendered monitoring file, checked by the program that reads it (promtool, amtool)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from monitoring import catalogue
from monitoring.dashboards import dashboards
from monitoring.promql import expand_grafana_macros, metric_names
from monitoring.rules import alert_rules, render_rules, render_rules_tests
from monitoring.targets import scrape_jobs
from tests.edge_support import make_certificate
from tests.monitoring_support import ALL_RECEIVERS, RECEIVER_SECRETS, render_into, run, tool
from tests.planning import stack_settings
from websys.plan import PROJECT_DIR
from websys.settings import ENVIRONMENTS, Settings

VARIANTS: dict[str, tuple[str, list[str], list[str]]] = {
    **{stack: (stack, [], []) for stack in ENVIRONMENTS},
    "production+all-receivers": ("production", ALL_RECEIVERS, RECEIVER_SECRETS),
    "production+replicas": ("production", ["postgres.replicas=2", "backend.green.replicas=2"], []),
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    stack, sets, secrets = VARIANTS[request.param]
    settings = stack_settings(stack, sets, secrets)
    directory = tmp_path_factory.mktemp(f"render-{request.param}")
    render_into(directory, settings)
    return settings, directory


def test_promtool_checks_the_config_and_its_rules(rendered: tuple[Settings, Path]) -> None:
    _, directory = rendered
    result = run(tool("promtool"), "check", "config", "prometheus.yml", cwd=directory / "prometheus")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout  # the rule file is found beside the config
    rules = run(tool("promtool"), "check", "rules", "rules/websys.rules.yml", cwd=directory / "prometheus")
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_promtool_unit_tests_of_every_rule_pass(rendered: tuple[Settings, Path]) -> None:
    _, directory = rendered
    result = run(tool("promtool"), "test", "rules", "tests/websys.rules.test.yml", cwd=directory / "prometheus")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_checks_the_alertmanager_config(rendered: tuple[Settings, Path]) -> None:
    settings, directory = rendered
    result = run(tool("amtool"), "check-config", str(directory / "alertmanager/alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    document = yaml.safe_load((directory / "alertmanager/alertmanager.yml").read_text())
    integrations = {key for receiver in document["receivers"] for key in receiver if key != "name"}
    expected = {f"{kind}_configs" for kind in settings.monitoring.receivers.configured}
    assert integrations == expected


def test_receivers_credentials_are_files_not_values(tmp_path: Path) -> None:
    settings = stack_settings("production", ALL_RECEIVERS, RECEIVER_SECRETS)
    render_into(tmp_path, settings)
    text = "\n".join(path.read_text() for path in tmp_path.rglob("*") if path.is_file())
    for secret in RECEIVER_SECRETS:
        assert secret.split("=", 1)[1] not in text
    config = (tmp_path / "alertmanager/alertmanager.yml").read_text()
    for name in ("credentials_file", "api_url_file", "auth_password_file"):
        assert name in config


def test_rule_tests_fail_when_a_rule_disagrees_with_them(tmp_path: Path) -> None:
    """The unit tests can fail: rules rendered at 90% CPU do not fire where the 80% tests expect."""
    tests_at_80 = stack_settings("production")
    rules_at_90 = stack_settings("production", ["monitoring.thresholds={cpuPercent: 90}"])
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "rules/websys.rules.yml").write_text(render_rules(rules_at_90))
    (tmp_path / "tests/websys.rules.test.yml").write_text(render_rules_tests(tests_at_80))
    result = run(tool("promtool"), "test", "rules", "tests/websys.rules.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "HighCPUUsage" in result.stdout + result.stderr


def test_every_rule_fires_and_stays_quiet_at_its_threshold_with_severity_and_hints() -> None:
    rules = alert_rules(stack_settings("production"))
    names = [rule.name for rule in rules]
    assert len(names) == len(set(names))
    for required in (
        "HighCPUUsage",
        "DatabaseConnectionError",
        "HighErrorRate",
        "TargetDown",
        "PostgresReplicationLag",
        "PostgresReplicationSlotInactive",
        "RedisDown",
        "RedisAofWriteFailure",
        "HostDiskSpaceLow",
        "HostMemoryPressure",
        "ContainerRestarting",
        "BackupMissing",
        "PrometheusRuleEvaluationFailures",
        "PrometheusNotificationsFailing",
        "AlertmanagerNotificationsFailing",
    ):
        assert required in names
    for rule in rules:
        assert rule.severity in ("warning", "critical")
        assert all((rule.summary, rule.description, rule.runbook)), rule.name
        firing = [case for case in rule.cases if case.labels is not None]
        quiet = [case for case in rule.cases if case.labels is None]
        assert firing, f"{rule.name} needs a firing case"
        assert quiet, f"{rule.name} needs a quiet case"
        if rule.severity == "critical":
            # Inhibition is by instance: a critical alert must name its target.
            assert all("instance" in case.labels for case in firing if case.labels is not None), rule.name


def test_guide_alerts_are_made_correct() -> None:
    rules = {rule.name: rule for rule in alert_rules(stack_settings("production"))}
    assert "node_cpu_seconds_total" in rules["HighCPUUsage"].expr
    assert rules["HighCPUUsage"].for_ == "5m"
    assert (rules["DatabaseConnectionError"].expr, rules["DatabaseConnectionError"].for_) == ("pg_up == 0", "1m")
    assert rules["HighErrorRate"].for_ == "2m"
    assert 'status_code=~"5.."' in rules["HighErrorRate"].expr
    assert rules["BackupMissing"].expr.endswith(f"> {26 * 3600}")


def _known_metrics(settings: Settings) -> frozenset[str]:
    """Metrics of the programs this stack's prometheus.yml actually scrapes."""
    sources = {job.source for job in scrape_jobs(settings) if job.targets}
    return frozenset().union(*(catalogue.BY_SOURCE[source] for source in sources))


def _dashboard_exprs(directory: Path) -> list[str]:
    exprs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                exprs.append(node["expr"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((directory / "grafana/dashboards").glob("*.json")):
        walk(json.loads(path.read_text()))
    return exprs


def test_every_dashboard_query_parses(rendered: tuple[Settings, Path], tmp_path: Path) -> None:
    _, directory = rendered
    exprs = _dashboard_exprs(directory)
    assert len(exprs) >= 30
    document = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": expand_grafana_macros(e)} for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(document))
    result = run(tool("promtool"), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_rules_and_dashboards_name_only_metrics_a_scraped_program_provides(rendered: tuple[Settings, Path]) -> None:
    settings, directory = rendered
    known = _known_metrics(settings)
    rules = yaml.safe_load((directory / "prometheus/rules/websys.rules.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]] + _dashboard_exprs(directory)
    for expr in exprs:
        names = metric_names(expr)
        assert names, expr
        assert names <= known, f"{sorted(names - known)} in {expr!r} are not provided by any scraped program"


def test_metric_name_check_would_catch_the_guides_metrics() -> None:
    known = _known_metrics(stack_settings("production"))
    for guide_expr in ("cpu_usage_percent > 80", "postgres_up == 0", "http_request_error_rate > 0.05"):
        assert not metric_names(guide_expr) <= known


def test_dashboards_cover_the_guides_groups() -> None:
    specs = {spec.uid.rsplit("-", 1)[1]: spec for spec in dashboards(stack_settings("production"))}
    titles = {key: " ".join(p.title.lower() for row in spec.rows for p in row.panels) for key, spec in specs.items()}
    for word in ("cpu", "memory", "disk", "network"):
        assert word in titles["system"]
    for word in ("requests per second", "latency", "error rate", "active users"):
        assert word in titles["application"]
    for word in ("connections", "transaction", "deadlocks", "database size", "replication lag"):
        assert word in titles["database"]


def test_the_monitoring_pages_alerts_table_lists_every_rule() -> None:
    page = (PROJECT_DIR / "docs" / "monitoring.md").read_text()
    table = page[page.index("## Alerts") : page.index("## Dashboards")]
    for rule in alert_rules(stack_settings("production")):
        assert f"| `{rule.name}` | {rule.severity} |" in table


def test_on_swarm_the_backend_tasks_are_found_by_dns(tmp_path: Path) -> None:
    """A Swarm service has no per-replica container names: Prometheus asks Docker's DNS for its tasks."""
    crt, key = make_certificate(tmp_path)
    settings = stack_settings(
        "production",
        ["platform=swarm"],
        [f"tlsCertificate={crt.read_text()}", f"tlsPrivateKey={key.read_text()}"],
    )
    render_into(tmp_path, settings)
    config = yaml.safe_load((tmp_path / "prometheus" / "prometheus.yml").read_text())
    backend = next(job for job in config["scrape_configs"] if job["job_name"] == "backend")
    assert backend["static_configs"] == []
    assert backend["dns_sd_configs"] == [{"names": ["tasks.websys-production-backend"], "type": "A", "port": 8000}]
    for command in (["check", "config", "prometheus.yml"], ["test", "rules", "tests/websys.rules.test.yml"]):
        result = run(tool("promtool"), *command, cwd=tmp_path / "prometheus")
        assert result.returncode == 0, result.stdout + result.stderr
