"""prometheus.yml: global settings, Alertmanager, rule files and every scrape job, from the settings."""

from __future__ import annotations

from typing import Any

import yaml

from monitoring.targets import ALERTMANAGER_PORT, alertmanager_name, scrape_jobs
from websys.settings import Settings

CONFIG_DIR = "/etc/prometheus"
CONFIG_PATH = f"{CONFIG_DIR}/prometheus.yml"
RULES_DIR = f"{CONFIG_DIR}/rules"
# Relative to prometheus.yml, so the same file works in the container and in a test's tmp dir.
RULE_FILES_GLOB = "rules/*.yml"
DATA_DIR = "/prometheus"


def prometheus_config(settings: Settings) -> dict[str, Any]:
    monitoring = settings.monitoring
    env = settings.environment
    scrape_configs: list[dict[str, Any]] = []
    for job in scrape_jobs(settings):
        static_configs: list[dict[str, Any]] = []
        dns_sd_configs: list[dict[str, Any]] = []
        for target in job.targets:
            if target.discovered:
                dns_sd_configs.append({"names": [target.host], "type": "A", "port": target.port})
                continue
            entry: dict[str, Any] = {"targets": [target.address]}
            if target.labels:
                entry["labels"] = dict(sorted(target.labels.items()))
            static_configs.append(entry)
        scrape_config: dict[str, Any] = {
            "job_name": job.name,
            "metrics_path": job.metrics_path,
            "static_configs": static_configs,
        }
        if dns_sd_configs:
            scrape_config["dns_sd_configs"] = dns_sd_configs
        scrape_configs.append(scrape_config)
    return {
        "global": {
            "scrape_interval": f"{monitoring.scrape_interval_seconds}s",
            "scrape_timeout": f"{min(10, monitoring.scrape_interval_seconds)}s",
            "evaluation_interval": f"{monitoring.evaluation_interval_seconds}s",
            "external_labels": {"environment": env},
        },
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"{alertmanager_name(env)}:{ALERTMANAGER_PORT}"]}]}]
        },
        "rule_files": [RULE_FILES_GLOB],
        "scrape_configs": scrape_configs,
    }


def render_prometheus_config(settings: Settings) -> str:
    header = f"# prometheus.yml of websys {settings.environment}: rendered from the stack settings; do not edit.\n"
    return header + yaml.safe_dump(prometheus_config(settings), sort_keys=False, default_flow_style=False)


def render_prometheus_bootstrap(settings: Settings) -> str:
    """What the Prometheus container starts with before the first checked reload: no scrape job,
    no rule, only the stack's environment label. It depends on nothing a deploy changes, so the
    container is never replaced for a new target or rule; the rendered files arrive by a push."""
    document = {"global": {"external_labels": {"environment": settings.environment}}}
    header = "# Bootstrap: replaced by the rendered prometheus.yml through a checked reload (SIGHUP).\n"
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def prometheus_command(settings: Settings) -> list[str]:
    """The server's flags: config, storage on the data volume, retention from the settings."""
    monitoring = settings.monitoring
    command = [
        f"--config.file={CONFIG_PATH}",
        f"--storage.tsdb.path={DATA_DIR}",
        f"--storage.tsdb.retention.time={monitoring.retention_days}d",
        "--web.console.libraries=/usr/share/prometheus/console_libraries",
        "--web.console.templates=/usr/share/prometheus/consoles",
    ]
    if monitoring.retention_size_gb is not None:
        command.append(f"--storage.tsdb.retention.size={monitoring.retention_size_gb}GB")
    return command
