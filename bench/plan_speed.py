"""1. Plan speed: the whole `websys plan production --json` process against importing the SDKs it needs."""

from __future__ import annotations

from bench.common import PYTHON, WEBSYS, Result, alternate, median, ratio_of_medians, rounded, run_timed

NAME = "plan-speed"
TARGET = 1.5
FLOOR = [PYTHON, "-c", "import pulumi, pulumi_docker, pulumi_aws, pulumi_random"]
SUBJECT = [WEBSYS, "plan", "production", "--json"]


def run(runs: int) -> Result:
    floors, subjects = alternate(
        lambda: run_timed(FLOOR, stdout_to="/dev/null").seconds,
        lambda: run_timed(SUBJECT, stdout_to="/dev/null").seconds,
        runs,
    )
    ratio = ratio_of_medians(subjects, floors)
    return Result(
        name=NAME,
        title="Plan speed (production)",
        measure="time ratio plan/import floor (medians)",
        value=ratio,
        target=f"<= {TARGET}x",
        met=ratio <= TARGET,
        summary=f"plan {median(subjects):.2f} s vs import floor {median(floors):.2f} s: {ratio:.2f}x",
        details={
            "floor_command": " ".join(["python", *FLOOR[1:]]),
            "subject_command": "websys plan production --json",
            "runs": runs,
            "floor_seconds": rounded(floors),
            "subject_seconds": rounded(subjects),
            "floor_median_seconds": round(median(floors), 3),
            "subject_median_seconds": round(median(subjects), 3),
        },
    )
