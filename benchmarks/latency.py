"""CPU latency of the papers' models against their baselines, side by side in one process.

    .venv/bin/python benchmarks/latency.py                       # both groups, batch 1 and 8
    .venv/bin/python benchmarks/latency.py --group topdown --runs 30 --threads 2
    .venv/bin/python benchmarks/latency.py --markdown --json-out output/latency.json

Groups (the first model of each group is the reference of the "× first" column):

* top-down, 256×192 crops: SimpleBaseline-R50, FLPN SResNet-50, LPN-50. Target: FLPN ≤ 1/4 of SimpleBaseline.
* bottom-up, 368×368 images: Lightweight OpenPose (MobileNet), cross-fusion (GhostNet). Target: ≤ 2× LWOP.

This is the same code as ``edgepose bench latency`` (``edgepose.analysis.latency.bench_models``). Figures
are printed, never asserted: they depend on the machine and on whatever else runs on it. Cases are timed
round-robin, so the ratios hold up on a busy machine better than the absolute milliseconds do.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgepose.analysis.latency import LatencyReport, bench_models, format_latency_table
from edgepose.config import atomic_write_text

GROUPS: dict[str, list[str]] = {
    "topdown": ["simplebaseline_r50", "flpn_sres50", "lpn50"],
    "bottomup": ["lwop_mobilenet", "xfuse_ghostnet"],
}

# (group, model, reference, at most this × the reference's median) -- the targets
TARGETS = [
    ("topdown", "flpn_sres50", "simplebaseline_r50", 0.25),
    ("bottomup", "xfuse_ghostnet", "lwop_mobilenet", 2.0),
]


def check_targets(group: str, report: LatencyReport) -> list[str]:
    """One line per target of ``group`` and batch size: the measured ratio and whether it meets the target."""
    lines = []
    for g, model, ref, limit in TARGETS:
        if g != group:
            continue
        for batch in sorted({r.batch for r in report.rows}):
            by_label = {r.label: r for r in report.rows if r.batch == batch}
            if model in by_label and ref in by_label:
                ratio = by_label[model].timing.median_ms / by_label[ref].timing.median_ms
                ok = "meets" if ratio <= limit else "MISSES"
                lines.append(f"batch {batch}: {model} / {ref} = {ratio:.3f} ({ok} the target ≤ {limit:g})")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--group", choices=[*GROUPS, "all"], default="all")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's setting)")
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall", help="cpu: process CPU time (busy machines)")
    p.add_argument("--fuse-bn", action="store_true", help="fold BN into convs first (as deployment runtimes do)")
    p.add_argument("--markdown", action="store_true", help="Markdown tables (for docs/latency.md)")
    p.add_argument("--json-out", type=Path, help="also write all figures as JSON here")
    args = p.parse_args(argv)

    groups = list(GROUPS) if args.group == "all" else [args.group]
    results = {}
    for group in groups:
        report = bench_models(
            GROUPS[group], batches=args.batch, warmup=args.warmup, runs=args.runs, threads=args.threads,
            channels_last=args.channels_last, fuse_bn=args.fuse_bn, clock=args.clock,
            progress=lambda msg: print(msg, file=sys.stderr, flush=True),
        )  # fmt: skip
        results[group] = report.to_dict()
        print(f"\n## {group}\n")
        print(format_latency_table(report, markdown=args.markdown))
        for line in check_targets(group, report):
            print(("- " if args.markdown else "") + line)
    if args.json_out:
        atomic_write_text(args.json_out, json.dumps(results, indent=1))
        print(f"\nwrote {args.json_out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
