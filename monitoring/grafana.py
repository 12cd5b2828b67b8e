"""Grafana's provisioning: the Prometheus datasource, the dashboard provider, and its settings."""

from __future__ import annotations

from typing import Any

import yaml

from monitoring.dashboards import DATASOURCE_UID
from monitoring.targets import PROMETHEUS_PORT, prometheus_name
from websys.settings import Settings

PROVISIONING_DIR = "/etc/grafana/provisioning"
DASHBOARDS_DIR = "/etc/grafana/dashboards"
DATASOURCE_PATH = f"{PROVISIONING_DIR}/datasources/prometheus.yml"
PROVIDER_PATH = f"{PROVISIONING_DIR}/dashboards/websys.yml"


def render_datasource(settings: Settings) -> str:
    document: dict[str, Any] = {
        "apiVersion": 1,
        "deleteDatasources": [],
        "datasources": [
            {
                "name": "Prometheus",
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": f"http://{prometheus_name(settings.environment)}:{PROMETHEUS_PORT}",
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    "timeInterval": f"{settings.monitoring.scrape_interval_seconds}s",
                    "httpMethod": "POST",
                },
            }
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


def render_dashboard_provider(settings: Settings) -> str:
    document: dict[str, Any] = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "websys",
                "orgId": 1,
                "folder": f"WebSys {settings.environment}",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,  # dashboards are code: edits in the UI are not kept
                "updateIntervalSeconds": 60,
                "options": {"path": DASHBOARDS_DIR, "foldersFromFilesStructure": False},
            }
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


def grafana_environment(settings: Settings) -> dict[str, str]:
    """Grafana's non-secret settings; the admin password arrives as a secret variable beside them."""
    root = f"https://{settings.domains.frontend}{settings.monitoring.grafana_path}"
    return {
        "GF_PATHS_PROVISIONING": PROVISIONING_DIR,
        "GF_SECURITY_ADMIN_USER": "admin",
        "GF_SECURITY_DISABLE_GRAVATAR": "true",
        "GF_SECURITY_COOKIE_SECURE": "true",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_NEWS_NEWS_FEED_ENABLED": "false",
        # Served by nginx under monitoring.grafanaPath of the frontend's domain.
        "GF_SERVER_ROOT_URL": root,
        "GF_SERVER_SERVE_FROM_SUB_PATH": "true",
    }
