"""Run the benchmarks, print a table and write bench/results.json.

venv/bin/python bench/run.py                    # everything (what `make bench` runs)
venv/bin/python bench/run.py --quick            # a short smoke run (writes /tmp/websys-bench-quick.json)
venv/bin/python bench/run.py --only critical-path --quick --out /tmp/results.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # started as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import backup, critical_path, plan_speed, scaling, switch
from bench.common import PROJECT_DIR, Result

RESULTS = PROJECT_DIR / "bench" / "results.json"
QUICK_RESULTS = Path(tempfile.gettempdir()) / "websys-bench-quick.json"
NAMES = (plan_speed.NAME, scaling.NAME, critical_path.NAME, switch.NAME, backup.NAME)


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


def run_one(name: str, args: argparse.Namespace) -> Result:
    runs = args.runs if args.runs else (1 if args.quick else 5)
    if name == plan_speed.NAME:
        return plan_speed.run(runs)
    if name == scaling.NAME:
        return scaling.run(runs)
    if name == critical_path.NAME:
        return critical_path.run(("production",) if args.quick else critical_path.STACKS)
    if name == switch.NAME:
        return switch.run(runs, 300 if args.quick else args.requests)
    if name == backup.NAME:
        if args.quick:
            return backup.run(runs, 30, 10)
        if args.backup_small_mb >= args.backup_mb:
            raise SystemExit("bench: --backup-small-mb must be below --backup-mb")
        return backup.run(runs, args.backup_mb, args.backup_small_mb)
    raise ValueError(name)


def table(results: list[dict[str, Any]]) -> str:
    rows = [("benchmark", "value", "target", "met", "summary")]
    for r in results:
        rows.append((r["name"], f"{r['value']:g}", r["target"], "yes" if r["met"] else "NO", r["summary"]))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 7)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one run each, small sizes: a smoke test")
    parser.add_argument("--only", action="append", choices=NAMES, help="run only this benchmark (repeatable)")
    parser.add_argument("--runs", type=int, default=0, help="alternating runs per side (default 5; --quick 1)")
    parser.add_argument("--backup-mb", type=int, default=1100, help="size of the backup benchmark's database (MB)")
    parser.add_argument("--backup-small-mb", type=int, default=110, help="its small database, for memory growth")
    parser.add_argument("--requests", type=int, default=1500, help="requests per load run in the switch benchmark")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"where to write the results (default {RESULTS.relative_to(PROJECT_DIR)}; with --quick {QUICK_RESULTS})",
    )
    args = parser.parse_args(argv)
    # A smoke run must not replace the committed full results.
    if args.out is None:
        args.out = QUICK_RESULTS if args.quick else RESULTS
    if args.runs and args.runs < 1:
        parser.error("--runs must be at least 1")

    started = time.monotonic()
    info = machine()
    results: list[dict[str, Any]] = []
    for name in args.only or NAMES:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        begun = time.monotonic()
        result = run_one(name, args).as_json()
        result["seconds"] = round(time.monotonic() - begun, 1)
        results.append(result)
        print(f"bench: {name}: {result['summary']}", file=sys.stderr, flush=True)
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    document = {
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quick": args.quick,
        "command": " ".join(["bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": info,
        "seconds": round(time.monotonic() - started, 1),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(results))
    print(f"\nmachine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gb']} GB; load {info['load_average_start']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
