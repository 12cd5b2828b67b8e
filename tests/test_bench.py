"""`bench/run.py --quick` on its cheapest benchmark: it runs, prints the table and writes results.json."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.sdk_floor import floor_program
from websys.plan import PROJECT_DIR, Plan, record_plan
from websys.stackfile import StackConfig

pytestmark = pytest.mark.timeout(60)


def test_quick_critical_path_writes_the_results_file(tmp_path: Path) -> None:
    """A quick run writes its own results file (in the temporary directory), never the committed one."""
    committed = (PROJECT_DIR / "bench" / "results.json").read_bytes()
    out = tmp_path / "websys-bench-quick.json"
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--only", "critical-path"],
        cwd=PROJECT_DIR,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (PROJECT_DIR / "bench" / "results.json").read_bytes() == committed
    assert done.stdout.splitlines()[-1] == f"wrote {out}"
    document = json.loads(out.read_text())
    assert document["quick"] is True
    assert {"nproc", "cpu", "memory_gb", "load_average_start", "load_average_end"} <= document["machine"].keys()
    [result] = document["results"]
    assert set(result) == {"name", "title", "measure", "value", "target", "met", "summary", "details", "seconds"}
    assert result["name"] == "critical-path"
    assert isinstance(result["met"], bool)
    production = result["details"]["stacks"]["production"]
    assert production["levels"] == result["value"] == len(production["chain"])
    assert 2 <= production["levels"] <= production["resources"]
    # The chain is a real path in the committed plan: each resource waits for the one before it.
    plan = json.loads((PROJECT_DIR / "plans" / "production.json").read_text())
    by_name = {r["name"]: r for r in plan["resources"] if not r["type"].startswith(("websys:", "pulumi:pulumi:"))}
    chain = [by_name[entry.split(" (", 1)[0]] for entry in production["chain"]]
    for before, after in itertools.pairwise(chain):
        assert before["urn"] in [*after["dependencies"], after["provider"]], (before["name"], after["name"])
    assert "critical-path" in done.stdout.splitlines()[2]  # the table row after header and rule


def test_the_sdk_floor_registers_what_the_plan_registers(tmp_path: Path, stack_plans: dict[str, Plan]) -> None:
    """bench/sdk_floor.py's program: the same resources (URNs, so types and parents), inputs and
    options as the plan it was generated from, under the same recorder."""
    plan = stack_plans["production"].to_json()
    program = tmp_path / "floor.py"
    program.write_text(floor_program(plan))
    floor = record_plan("production", StackConfig(source="floor"), program=program).to_json()
    assert [r["urn"] for r in floor["resources"]] == [r["urn"] for r in plan["resources"]]
    for mine, theirs in zip(floor["resources"], plan["resources"], strict=True):
        if mine["type"] == "pulumi:pulumi:Stack":
            continue
        assert (mine["inputs"], mine["options"], mine["provider"]) == (
            theirs["inputs"],
            theirs["options"],
            theirs["provider"],
        ), mine["urn"]
        assert mine["dependencies"] == theirs["dependencies"], mine["urn"]
