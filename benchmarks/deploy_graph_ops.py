"""Operator counts of ONNX Runtime's *optimised* graph: training graph vs deployment graph (issue 13, item 1).

    .venv/bin/python benchmarks/backends.py            # writes the exported files to /tmp/edgepose_backends
    .venv/bin/python benchmarks/deploy_graph_ops.py    # then this: no timing, so the machine's load does not matter

ONNX Runtime rewrites a graph before running it (fusions, the NCHWc blocked layout with ``ReorderInput`` /
``ReorderOutput`` nodes where a tensor leaves or enters that layout). The counts show where the deployment
rewrite (``edgepose.export.deploy``) removes work: Slice nodes, layout round trips, BN after deconvolutions.
Output: a table on stdout and ``benchmarks/results/deploy_graph_ops_<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOWN = ("Conv", "FusedConv", "ConvTranspose", "BatchNormalization", "Slice", "Concat", "ReorderInput",
         "ReorderOutput", "Relu", "Add")  # fmt: skip


def optimised_ops(path: Path, threads: int = 1) -> dict[str, int]:
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        opts.optimized_model_filepath = str(Path(tmp) / "optimised.onnx")
        ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        graph = onnx.load(opts.optimized_model_filepath).graph
    return dict(collections.Counter(n.op_type for n in graph.node))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/edgepose_backends"))
    args = p.parse_args(argv)
    found = sorted(args.workdir.glob("*.train.onnx"))
    if not found:
        raise SystemExit(f"no exported files in {args.workdir}: run benchmarks/backends.py first")
    record = {"utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "models": {}}
    print(f"{'model':20s} {'graph':7s} " + " ".join(f"{op[:9]:>9s}" for op in SHOWN) + "    nodes")
    for train in found:
        key = train.name[: -len(".train.onnx")]
        record["models"][key] = {}
        for graph in ("train", "deploy"):
            ops = optimised_ops(args.workdir / f"{key}.{graph}.onnx")
            record["models"][key][graph] = ops
            counts = " ".join(f"{ops.get(op, 0):9d}" for op in SHOWN)
            print(f"{key:20s} {graph:7s} {counts} {sum(ops.values()):8d}")
    import onnxruntime

    record["onnxruntime"] = onnxruntime.__version__
    out = ROOT / "benchmarks" / "results" / f"deploy_graph_ops_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(record, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
