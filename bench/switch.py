"""4. Blue/green switch under load, against Debian's nginx on loopback exactly as the edge live test runs it.

The floor is the same bounded load with no switch; the subject is that load while the deployment's own
push script (stage, `nginx -t`, reload) switches the active color. Runs alternate floor and subject, and
the subject switches blue to green, then green to blue, and so on.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Result, median, rounded
from tests.edge_support import LiveEdge, LoadResult, PushResult, run_load

NAME = "switch"


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def latencies_ms(load: LoadResult, start: float | None = None, end: float | None = None) -> list[float]:
    return [
        1000 * (r.finished - r.started)
        for r in load.responses
        if (start is None or r.started >= start) and (end is None or r.started <= end)
    ]


def switch_once(edge: LiveEdge, requests: int) -> dict[str, Any]:
    old = edge.active or "blue"
    new = "green" if old == "blue" else "blue"
    pushes: list[PushResult] = []
    load = run_load(edge, requests, lambda: pushes.append(edge.push(edge.render(new))), action_after=requests // 3)
    if pushes[0].returncode != 0:
        raise RuntimeError(f"push failed: {pushes[0].stderr.strip()}")
    edge.active = new
    responses = load.responses
    last_old = max((r.started for r in responses if r.color != new), default=load.action_started)
    first_all_new = min((r.started for r in responses if r.started > last_old), default=last_old)
    window = latencies_ms(load, load.action_started, max(load.action_finished, first_all_new))
    return {
        "from": old,
        "to": new,
        "requests": len(responses),
        "failures": len(load.failures),
        "failure_examples": [r.error or str(r.status) for r in load.failures[:3]],
        "push_seconds": round(load.action_finished - load.action_started, 3),
        "all_new_after_push_started_seconds": round(max(0.0, first_all_new - load.action_started), 3),
        "old_after_push_returned": sum(1 for r in responses if r.started > load.action_finished and r.color != new),
        "switch_window_requests": len(window),
        "switch_p50_ms": round(percentile(window, 50), 2),
        "switch_p99_ms": round(percentile(window, 99), 2),
        "p50_ms": round(percentile(latencies_ms(load), 50), 2),
        "p99_ms": round(percentile(latencies_ms(load), 99), 2),
    }


def steady_once(edge: LiveEdge, requests: int) -> dict[str, Any]:
    load = run_load(edge, requests, lambda: None, action_after=requests // 3)
    return {
        "requests": len(load.responses),
        "failures": len(load.failures),
        "p50_ms": round(percentile(latencies_ms(load), 50), 2),
        "p99_ms": round(percentile(latencies_ms(load), 99), 2),
    }


def run(runs: int, requests: int) -> Result:
    floors: list[dict[str, Any]] = []
    switches: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="websys-bench-edge-") as root:
        edge = LiveEdge(Path(root))
        try:
            edge.start()
            edge.activate("blue")
            for _ in range(runs):
                floors.append(steady_once(edge, requests))
                switches.append(switch_once(edge, requests))
        finally:
            edge.stop()
    failures = sum(s["failures"] for s in switches)
    total = sum(s["requests"] for s in switches)
    floor_p99 = median([f["p99_ms"] for f in floors])
    switch_p99 = median([s["switch_p99_ms"] for s in switches])
    converge = median([s["all_new_after_push_started_seconds"] for s in switches])
    return Result(
        name=NAME,
        title="Blue/green switch under load (live nginx)",
        measure="failed requests during switches",
        value=float(failures),
        target="0 failures",
        met=failures == 0 and all(f["failures"] == 0 for f in floors),
        summary=(
            f"{runs} switches, {total} requests, {failures} failed; p50/p99 in switch window "
            f"{median([s['switch_p50_ms'] for s in switches]):.1f}/{switch_p99:.1f} ms "
            f"(no-switch floor p99 {floor_p99:.1f} ms, {switch_p99 / floor_p99:.2f}x); "
            f"all responses from the new color {converge:.2f} s after the push started"
        ),
        details={
            "requests_per_run": requests,
            "clients": 4,
            "p99_ratio_switch_window_vs_floor": round(switch_p99 / floor_p99, 3),
            "all_new_after_push_started_seconds": rounded([s["all_new_after_push_started_seconds"] for s in switches]),
            "floor_runs": floors,
            "switch_runs": switches,
        },
    )
