"""Grafana dashboards as code: the guide's three groups (system, application, database).

Each dashboard is first a plain description (rows of panels of PromQL queries), then built with
grafana-foundation-sdk into the dashboard JSON that Grafana's file provider loads. Queries use
Grafana's `$__rate_interval` for rate windows and no other template variable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as StatPanel
from grafana_foundation_sdk.builders.timeseries import Panel as TimeseriesPanel
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from websys.settings import Settings

DATASOURCE_UID = "prometheus"
RATE = "$__rate_interval"
_FS = 'fstype!~"tmpfs|overlay|squashfs|nsfs"'
_OURS = 'name=~"websys-.+"'


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class PanelSpec:
    title: str
    unit: str
    queries: tuple[Query, ...]
    description: str = ""
    kind: Literal["timeseries", "stat"] = "timeseries"


@dataclass(frozen=True)
class RowSpec:
    title: str
    panels: tuple[PanelSpec, ...]


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    title: str
    rows: tuple[RowSpec, ...]

    @property
    def file_name(self) -> str:
        return f"{self.uid}.json"


def _q(expr: str, legend: str = "") -> Query:
    return Query(expr, legend)


def system_dashboard(settings: Settings) -> DashboardSpec:
    env = settings.environment
    return DashboardSpec(
        f"websys-{env}-system",
        f"WebSys {env}: system",
        (
            RowSpec(
                "Host",
                (
                    PanelSpec(
                        "CPU usage",
                        "percent",
                        (
                            _q(
                                f'100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle"}}[{RATE}])))',
                                "busy",
                            ),
                        ),
                        "Share of CPU time not idle, all cores.",
                    ),
                    PanelSpec(
                        "Load average",
                        "short",
                        (_q("node_load1", "1m"), _q("node_load5", "5m"), _q("node_load15", "15m")),
                    ),
                    PanelSpec(
                        "Memory usage",
                        "percent",
                        (_q("100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)", "used"),),
                    ),
                    PanelSpec(
                        "Disk usage",
                        "percent",
                        (
                            _q(
                                f"100 * (1 - node_filesystem_avail_bytes{{{_FS}}}"
                                f" / node_filesystem_size_bytes{{{_FS}}})",
                                "{{mountpoint}}",
                            ),
                        ),
                    ),
                    PanelSpec(
                        "Disk I/O",
                        "Bps",
                        (
                            _q(f"sum by (device) (rate(node_disk_read_bytes_total[{RATE}]))", "read {{device}}"),
                            _q(f"sum by (device) (rate(node_disk_written_bytes_total[{RATE}]))", "write {{device}}"),
                        ),
                    ),
                ),
            ),
            RowSpec(
                "Containers",
                (
                    PanelSpec(
                        "Network traffic by container",
                        "Bps",
                        (
                            _q(
                                f"sum by (name) (rate(container_network_receive_bytes_total{{{_OURS}}}[{RATE}]))",
                                "in {{name}}",
                            ),
                            _q(
                                f"sum by (name) (rate(container_network_transmit_bytes_total{{{_OURS}}}[{RATE}]))",
                                "out {{name}}",
                            ),
                        ),
                        "Each container's own network namespace, from cAdvisor.",
                    ),
                    PanelSpec(
                        "CPU by container",
                        "percentunit",
                        (
                            _q(
                                f"sum by (name) (rate(container_cpu_usage_seconds_total{{{_OURS}}}[{RATE}]))",
                                "{{name}}",
                            ),
                        ),
                    ),
                    PanelSpec(
                        "Memory by container",
                        "bytes",
                        (_q(f"sum by (name) (container_memory_working_set_bytes{{{_OURS}}})", "{{name}}"),),
                    ),
                    PanelSpec(
                        "Scrape targets up",
                        "percentunit",
                        (_q("sum(up) / count(up)", "up"),),
                        kind="stat",
                    ),
                ),
            ),
        ),
    )


def application_dashboard(settings: Settings) -> DashboardSpec:
    env = settings.environment
    backend = 'job="backend"'
    quantiles = tuple(
        _q(
            f"histogram_quantile({q}, sum by (le, color) "
            f"(rate(http_request_duration_seconds_bucket{{{backend}}}[{RATE}])))",
            f"p{round(q * 100)} {{{{color}}}}",
        )
        for q in (0.5, 0.95, 0.99)
    )
    return DashboardSpec(
        f"websys-{env}-application",
        f"WebSys {env}: application",
        (
            RowSpec(
                "Backend",
                (
                    PanelSpec(
                        "Requests per second",
                        "reqps",
                        (_q(f"sum by (color) (rate(http_requests_total{{{backend}}}[{RATE}]))", "{{color}}"),),
                    ),
                    PanelSpec("Latency percentiles", "s", quantiles),
                    PanelSpec(
                        "Error rate (5xx share)",
                        "percentunit",
                        (
                            _q(
                                f'sum by (color) (rate(http_requests_total{{{backend},status_code=~"5.."}}[{RATE}]))'
                                f" / sum by (color) (rate(http_requests_total{{{backend}}}[{RATE}]))",
                                "{{color}}",
                            ),
                        ),
                    ),
                    PanelSpec(
                        "Active users",
                        "short",
                        (_q("sum(websys_active_users)", "active users"),),
                        "The backend's websys_active_users gauge.",
                        kind="stat",
                    ),
                    PanelSpec(
                        "Event loop lag",
                        "s",
                        (_q(f"max by (instance) (nodejs_eventloop_lag_seconds{{{backend}}})", "{{instance}}"),),
                    ),
                    PanelSpec(
                        "Backend memory (RSS)",
                        "bytes",
                        (_q(f"process_resident_memory_bytes{{{backend}}}", "{{instance}}"),),
                    ),
                ),
            ),
            RowSpec(
                "nginx",
                (
                    PanelSpec(
                        "nginx requests per second",
                        "reqps",
                        (_q(f"sum(rate(nginx_http_requests_total[{RATE}]))", "requests"),),
                    ),
                    PanelSpec(
                        "nginx connections",
                        "short",
                        (
                            _q("sum(nginx_connections_active)", "active"),
                            _q("sum(nginx_connections_waiting)", "waiting"),
                        ),
                    ),
                ),
            ),
        ),
    )


def database_dashboard(settings: Settings) -> DashboardSpec:
    env = settings.environment
    database = f'datname="{settings.database.name}"'
    return DashboardSpec(
        f"websys-{env}-database",
        f"WebSys {env}: database",
        (
            RowSpec(
                "PostgreSQL",
                (
                    PanelSpec(
                        "Connections",
                        "short",
                        (
                            _q(f"sum by (server) (pg_stat_database_numbackends{{{database}}})", "{{server}}"),
                            _q("max by (server) (pg_settings_max_connections)", "max {{server}}"),
                        ),
                    ),
                    PanelSpec(
                        "Longest running transaction",
                        "s",
                        (_q("max by (server) (pg_stat_activity_max_tx_duration)", "{{server}}"),),
                        "Query time as PostgreSQL's statistics views show it without pg_stat_statements.",
                    ),
                    PanelSpec(
                        "Transactions per second",
                        "ops",
                        (
                            _q(
                                f"sum by (server) (rate(pg_stat_database_xact_commit{{{database}}}[{RATE}]))",
                                "commit {{server}}",
                            ),
                            _q(
                                f"sum by (server) (rate(pg_stat_database_xact_rollback{{{database}}}[{RATE}]))",
                                "rollback {{server}}",
                            ),
                        ),
                    ),
                    PanelSpec(
                        "Deadlocks",
                        "short",
                        (
                            _q(
                                f"sum by (server) (increase(pg_stat_database_deadlocks{{{database}}}[1h]))",
                                "{{server}}",
                            ),
                        ),
                        "Deadlocks detected in the last hour.",
                    ),
                    PanelSpec(
                        "Database size",
                        "bytes",
                        (_q(f"pg_database_size_bytes{{{database}}}", "{{server}}"),),
                    ),
                    PanelSpec(
                        "Replication lag",
                        "s",
                        (_q('pg_replication_lag_seconds{role="replica"}', "{{server}}"),),
                    ),
                    PanelSpec(
                        "Replication slots active",
                        "short",
                        (_q("pg_replication_slot_slot_is_active", "{{slot_name}}"),),
                    ),
                ),
            ),
            RowSpec(
                "Redis and backups",
                (
                    PanelSpec("Redis up", "short", (_q("redis_up", "{{server}}"),), kind="stat"),
                    PanelSpec(
                        "Redis memory",
                        "bytes",
                        (_q("redis_memory_used_bytes", "used"), _q("redis_memory_max_bytes", "max")),
                    ),
                    PanelSpec("Redis clients", "short", (_q("redis_connected_clients", "clients"),)),
                    PanelSpec(
                        "Last successful backup",
                        "s",
                        (_q("time() - websys_backup_last_success_timestamp_seconds", "age"),),
                        kind="stat",
                    ),
                ),
            ),
        ),
    )


def dashboards(settings: Settings) -> list[DashboardSpec]:
    return [system_dashboard(settings), application_dashboard(settings), database_dashboard(settings)]


def _panel(spec: PanelSpec, datasource: DataSourceRef) -> TimeseriesPanel | StatPanel:
    panel: TimeseriesPanel | StatPanel
    if spec.kind == "stat":
        panel = StatPanel().reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    else:
        legend = VizLegendOptions().display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM)
        panel = TimeseriesPanel().legend(legend.show_legend(True))
    panel = (
        panel.title(spec.title).unit(spec.unit).datasource(datasource).height(8).span(6 if spec.kind == "stat" else 12)
    )
    if spec.description:
        panel = panel.description(spec.description)
    for index, query in enumerate(spec.queries):
        target = Dataquery().expr(query.expr).ref_id(chr(ord("A") + index)).datasource(datasource)
        if query.legend:
            target = target.legend_format(query.legend)
        panel = panel.with_target(target)
    return panel


def render_dashboard(spec: DashboardSpec) -> str:
    datasource = DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
    builder = (
        Dashboard(spec.title)
        .uid(spec.uid)
        .tags(["websys", "generated"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .readonly()
    )
    panel_id = 0
    for row in spec.rows:
        panel_id += 1
        builder = builder.with_row(Row(row.title).id(panel_id))
        for panel in row.panels:
            panel_id += 1
            builder = builder.with_panel(_panel(panel, datasource).id(panel_id))
    return json.dumps(builder.build(), cls=JSONEncoder, sort_keys=True, indent=2) + "\n"
