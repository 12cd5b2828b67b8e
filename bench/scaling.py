"""2. Scaling: `websys plan production` with 3, 30 and 300 blue backend replicas."""

from __future__ import annotations

import json

from bench.common import WEBSYS, Result, median, rounded, run_timed

NAME = "scaling"
TARGET = 3.0
REPLICAS = (3, 30, 300)


def plan_once(replicas: int) -> tuple[float, int]:
    done = run_timed([WEBSYS, "plan", "production", "--json", "--set", f"backend.blue.replicas={replicas}"])
    return done.seconds, len(json.loads(done.stdout)["resources"])


def run(runs: int) -> Result:
    times: dict[int, list[float]] = {n: [] for n in REPLICAS}
    counts: dict[int, int] = {}
    for _ in range(runs):  # rounds alternate the sizes, so drift touches each alike
        for n in REPLICAS:
            seconds, count = plan_once(n)
            times[n].append(seconds)
            counts[n] = count
    medians = {n: median(times[n]) for n in REPLICAS}
    small, large = REPLICAS[0], REPLICAS[-1]
    ratio = medians[large] / medians[small]
    marginal_ms = 1000 * (medians[large] - medians[small]) / (counts[large] - counts[small])
    per_size = {
        str(n): {"resources": counts[n], "seconds": rounded(times[n]), "median_seconds": round(medians[n], 3)}
        for n in REPLICAS
    }
    return Result(
        name=NAME,
        title="Scaling (backend.blue.replicas 3/30/300)",
        measure=f"time ratio {large}/{small} replicas (medians)",
        value=ratio,
        target=f"<= {TARGET}x",
        met=ratio <= TARGET,
        summary=(
            ", ".join(f"{n}: {counts[n]} res {medians[n]:.2f} s" for n in REPLICAS)
            + f"; {marginal_ms:.1f} ms per extra resource; {ratio:.2f}x"
        ),
        details={"runs": runs, "sizes": per_size, "marginal_ms_per_resource": round(marginal_ms, 2)},
    )
