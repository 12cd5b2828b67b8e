"""`bench/run.py --quick` on its cheapest benchmark: it runs, prints the table and writes results.json."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from websys.plan import PROJECT_DIR

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
