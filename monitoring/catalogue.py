"""The metric names each scraped program exposes, as far as rules and dashboards use them.

Alert rules and dashboards may name only metrics listed here (a test holds them to it), so a
misspelt or invented metric, such as the guide's `cpu_usage_percent` or `postgres_up`, cannot
reach a stack. Each list is taken from the exporter's documentation for the pinned version.
"""

from __future__ import annotations

from typing import Final

# node_exporter (host): CPU, memory, filesystems, network, load.
NODE_EXPORTER: Final = frozenset(
    {
        "node_cpu_seconds_total",
        "node_load1",
        "node_load5",
        "node_load15",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
        "node_memory_SwapFree_bytes",
        "node_memory_SwapTotal_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_size_bytes",
        "node_filesystem_readonly",
        "node_network_receive_bytes_total",
        "node_network_transmit_bytes_total",
        "node_disk_read_bytes_total",
        "node_disk_written_bytes_total",
        "node_boot_time_seconds",
    }
)

# cAdvisor (containers).
CADVISOR: Final = frozenset(
    {
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "container_spec_memory_limit_bytes",
        "container_network_receive_bytes_total",
        "container_network_transmit_bytes_total",
        "container_start_time_seconds",
        "container_last_seen",
        "container_oom_events_total",
    }
)

# postgres_exporter: default collectors (database, stat_database, replication, replication_slot).
POSTGRES_EXPORTER: Final = frozenset(
    {
        "pg_up",
        "pg_database_size_bytes",
        "pg_settings_max_connections",
        "pg_stat_activity_count",
        "pg_stat_activity_max_tx_duration",
        "pg_stat_database_numbackends",
        "pg_stat_database_deadlocks",
        "pg_stat_database_xact_commit",
        "pg_stat_database_xact_rollback",
        "pg_stat_database_blk_read_time",
        "pg_stat_database_blk_write_time",
        "pg_stat_database_tup_fetched",
        "pg_replication_lag_seconds",
        "pg_replication_is_replica",
        "pg_replication_slot_slot_is_active",
        "pg_replication_slot_safe_wal_size_bytes",
        "pg_stat_replication_pg_wal_lsn_diff",
    }
)

# redis_exporter.
REDIS_EXPORTER: Final = frozenset(
    {
        "redis_up",
        "redis_connected_clients",
        "redis_memory_used_bytes",
        "redis_memory_max_bytes",
        "redis_aof_enabled",
        "redis_aof_last_write_status",
        "redis_aof_last_bgrewrite_status",
        "redis_commands_processed_total",
        "redis_keyspace_hits_total",
        "redis_keyspace_misses_total",
    }
)

# nginx-prometheus-exporter on stub_status (open source nginx: connections and requests, no status codes).
NGINX_EXPORTER: Final = frozenset(
    {
        "nginx_up",
        "nginx_connections_accepted",
        "nginx_connections_active",
        "nginx_connections_handled",
        "nginx_connections_reading",
        "nginx_connections_waiting",
        "nginx_connections_writing",
        "nginx_http_requests_total",
    }
)

# The backend's /metrics: what the WebSys backend exposes (prom-client): default Node metrics and
# an HTTP histogram and counter labelled by method, route and status_code.
BACKEND: Final = frozenset(
    {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_count",
        "http_request_duration_seconds_sum",
        "websys_active_users",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "nodejs_eventloop_lag_seconds",
        "nodejs_heap_size_used_bytes",
    }
)

# The backup job.
BACKUP: Final = frozenset(
    {
        "websys_backup_last_success_timestamp_seconds",
        "websys_backup_last_size_bytes",
        "websys_backup_last_duration_seconds",
        "websys_backup_verify_last_success_timestamp_seconds",
        "websys_backup_verify_last_failure_timestamp_seconds",
        "websys_backup_started_timestamp_seconds",
    }
)

# Prometheus itself and Alertmanager.
PROMETHEUS: Final = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "prometheus_rule_evaluation_failures_total",
        "prometheus_notifications_errors_total",
        "prometheus_notifications_sent_total",
        "prometheus_notifications_dropped_total",
        "prometheus_tsdb_head_series",
        "prometheus_config_last_reload_successful",
    }
)
ALERTMANAGER: Final = frozenset(
    {
        "alertmanager_notifications_failed_total",
        "alertmanager_notifications_total",
        "alertmanager_alerts",
        "alertmanager_config_last_reload_successful",
    }
)

BY_SOURCE: Final[dict[str, frozenset[str]]] = {
    "node_exporter": NODE_EXPORTER,
    "cadvisor": CADVISOR,
    "postgres_exporter": POSTGRES_EXPORTER,
    "redis_exporter": REDIS_EXPORTER,
    "nginx_exporter": NGINX_EXPORTER,
    "backend": BACKEND,
    "backup": BACKUP,
    "prometheus": PROMETHEUS,
    "alertmanager": ALERTMANAGER,
}

KNOWN_METRICS: Final = frozenset().union(*BY_SOURCE.values())
