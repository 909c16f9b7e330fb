"""Re-run documented figure commands and save their raw output, machine and load (benchmarks/results/).

Used to confirm that a refactor leaves the figures in docs unchanged: every command's last JSON line (or, for
``edgepose eval``, the ``eval_metrics.json`` it writes) is stored next to the command, with the load average
before and after it.

    python benchmarks/remeasure_figures.py --out benchmarks/results/remeasure_2026-11-29.json \\
        "edgepose oracle topdown --ann A.json --json" "edgepose oracle bottomup --ann A.json --json"
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path


def _last_json(text: str) -> object | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def run_one(command: str) -> dict:
    """Run one command (``edgepose`` resolved next to this Python); its output, wall time and load."""
    argv = shlex.split(command)
    if argv[0] == "edgepose":
        argv[0] = str(Path(sys.executable).with_name("edgepose"))
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    output = _last_json(proc.stdout)
    if "--out" in argv and (Path(argv[argv.index("--out") + 1]) / "eval_metrics.json").is_file():
        output = json.loads((Path(argv[argv.index("--out") + 1]) / "eval_metrics.json").read_text())
    return {
        "command": command,
        "returncode": proc.returncode,
        "wall_s": round(wall, 1),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "output": output,
        "stderr_tail": proc.stderr[-600:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("commands", nargs="+")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    doc = {
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "runs": [],
    }
    for command in args.commands:
        doc["runs"].append(run_one(command))
        print(json.dumps(doc["runs"][-1]["output"]), file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
