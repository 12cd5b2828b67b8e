"""Every monitoring file a container runs with, as rendered text with where it goes."""

from __future__ import annotations

from dataclasses import dataclass

from monitoring import alertmanager, grafana, prometheus, rules
from monitoring.dashboards import dashboards, render_dashboard
from websys.push import PushedFile
from websys.settings import Settings

PROMETHEUS_RESOURCE = "monitoring-prometheus"
ALERTMANAGER_RESOURCE = "monitoring-alertmanager"
GRAFANA_RESOURCE = "monitoring-grafana"
# The environment variables that carry Prometheus's files to push-config.sh, by kind.
PROMETHEUS_PUSH_VARIABLES = {
    "prometheus": "WEBSYS_PROMETHEUS_CONFIG",
    "prometheus-rules": "WEBSYS_PROMETHEUS_RULES",
    "prometheus-rules-test": "WEBSYS_PROMETHEUS_RULES_TESTS",
}


@dataclass(frozen=True)
class RenderedFile:
    path: str  # relative to a render directory; the same layout the container sees under its config dir
    kind: str  # the `websys render` kind
    resource: str  # the Pulumi resource (container) that receives it
    target: str  # absolute path inside that container
    content: str


def monitoring_files(settings: Settings) -> list[RenderedFile]:
    """Nothing when monitoring is disabled (development only)."""
    if not settings.monitoring.enabled:
        return []
    files = [
        RenderedFile(
            "prometheus/prometheus.yml",
            "prometheus",
            PROMETHEUS_RESOURCE,
            prometheus.CONFIG_PATH,
            prometheus.render_prometheus_config(settings),
        ),
        RenderedFile(
            f"prometheus/rules/{rules.RULES_FILE}",
            "prometheus-rules",
            PROMETHEUS_RESOURCE,
            f"{prometheus.RULES_DIR}/{rules.RULES_FILE}",
            rules.render_rules(settings),
        ),
        # Beside the rules in the container too, so `promtool test rules` can run there.
        RenderedFile(
            f"prometheus/tests/{rules.TESTS_FILE}",
            "prometheus-rules-test",
            PROMETHEUS_RESOURCE,
            f"{prometheus.CONFIG_DIR}/tests/{rules.TESTS_FILE}",
            rules.render_rules_tests(settings),
        ),
        RenderedFile(
            "alertmanager/alertmanager.yml",
            "alertmanager",
            ALERTMANAGER_RESOURCE,
            alertmanager.CONFIG_PATH,
            alertmanager.render_alertmanager_config(settings),
        ),
        RenderedFile(
            "grafana/provisioning/datasources/prometheus.yml",
            "grafana-datasource",
            GRAFANA_RESOURCE,
            grafana.DATASOURCE_PATH,
            grafana.render_datasource(settings),
        ),
        RenderedFile(
            "grafana/provisioning/dashboards/websys.yml",
            "grafana-dashboard-provider",
            GRAFANA_RESOURCE,
            grafana.PROVIDER_PATH,
            grafana.render_dashboard_provider(settings),
        ),
    ]
    for spec in dashboards(settings):
        files.append(
            RenderedFile(
                f"grafana/dashboards/{spec.file_name}",
                "grafana-dashboard",
                GRAFANA_RESOURCE,
                f"{grafana.DASHBOARDS_DIR}/{spec.file_name}",
                render_dashboard(spec),
            )
        )
    return files


def files_for(settings: Settings, resource: str) -> list[RenderedFile]:
    return [file for file in monitoring_files(settings) if file.resource == resource]


def prometheus_pushed_files(settings: Settings, config_dir: str = prometheus.CONFIG_DIR) -> list[PushedFile[str]]:
    """Prometheus's files as the config push delivers them, prometheus.yml first; `config_dir`
    stands for the container's /etc/prometheus (a test's tmp dir runs the same push)."""
    return [
        PushedFile(
            PROMETHEUS_PUSH_VARIABLES[file.kind],
            config_dir + file.target.removeprefix(prometheus.CONFIG_DIR),
            file.content,
        )
        for file in files_for(settings, PROMETHEUS_RESOURCE)
    ]
