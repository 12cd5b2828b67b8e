"""Prometheus, Alertmanager and Grafana: renderers of their files and the components that run them."""
