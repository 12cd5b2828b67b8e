"""Benchmarks for websys-infra: `make bench` (or `venv/bin/python bench/run.py`)."""
