"""1. Plan speed: `websys plan production --json` against the SDK floor, at two sizes.

The floor (bench/sdk_floor.py) is a program generated from the subject's own plan: the same number
of resources of the same types with the same inputs, registered under the same mock runtime and
recorder. What is left between the two is the program's own work (settings, renderers, components).
The import-only floor of earlier runs (`import pulumi, pulumi_docker, ...`) is kept as a detail.
"""

from __future__ import annotations

import json
import tempfile
from functools import partial
from pathlib import Path

from bench.common import PYTHON, WEBSYS, Result, alternate, median, ratio_of_medians, rounded, run_timed
from bench.sdk_floor import floor_program

NAME = "plan-speed"
TARGET = 1.3
IMPORT_FLOOR = [PYTHON, "-c", "import pulumi, pulumi_docker, pulumi_aws, pulumi_random"]
FLOOR_SCRIPT = str(Path(__file__).with_name("sdk_floor.py"))
# Production as committed (about 84 resources), and with 300 blue backend replicas (about 380).
SIZES = {"production": [], "production, 300 backend replicas": ["--set", "backend.blue.replicas=300"]}


def seconds(argv: list[str]) -> float:
    return run_timed(argv, stdout_to="/dev/null").seconds


def run(runs: int) -> Result:
    sizes: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="websys-bench-floor-") as scratch:
        for label, sets in SIZES.items():
            subject = [WEBSYS, "plan", "production", "--json", *sets]
            plan = json.loads(run_timed(subject).stdout)
            program = Path(scratch) / f"floor-{len(sizes)}.py"
            program.write_text(floor_program(plan), encoding="utf-8")
            floor = [PYTHON, FLOOR_SCRIPT, "production", str(program)]
            check = json.loads(run_timed(floor).stdout)
            if sorted(r["type"] for r in check["resources"]) != sorted(r["type"] for r in plan["resources"]):
                raise RuntimeError(f"bench: the SDK floor of {label} does not register the plan's resources")
            floors, subjects = alternate(partial(seconds, floor), partial(seconds, subject), runs)
            sizes[label] = {
                "resources": len(plan["resources"]),
                "ratio": round(ratio_of_medians(subjects, floors), 3),
                "floor_seconds": rounded(floors),
                "subject_seconds": rounded(subjects),
                "floor_median_seconds": round(median(floors), 3),
                "subject_median_seconds": round(median(subjects), 3),
            }
    imports = [seconds(IMPORT_FLOOR) for _ in range(runs)]
    worst = max(float(str(size["ratio"])) for size in sizes.values())
    summary = "; ".join(
        f"{size['resources']} resources: plan {size['subject_median_seconds']} s vs SDK floor "
        f"{size['floor_median_seconds']} s = {size['ratio']}x"
        for size in sizes.values()
    )
    return Result(
        name=NAME,
        title="Plan speed against the SDK floor",
        measure="time ratio plan/SDK floor (medians), the larger of the two sizes",
        value=worst,
        target=f"<= {TARGET}x at both sizes",
        met=worst <= TARGET,
        summary=summary,
        details={
            "floor": "bench/sdk_floor.py: the plan's resources, types and inputs, under the same mock runtime",
            "subject_command": "websys plan production --json [--set backend.blue.replicas=300]",
            "runs": runs,
            "sizes": sizes,
            "import_floor_command": " ".join(["python", *IMPORT_FLOOR[1:]]),
            "import_floor_median_seconds": round(median(imports), 3),
        },
    )
