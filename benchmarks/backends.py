"""Inference back-ends side by side, in one interleaved run (issue 13, item 2).

    .venv/bin/python benchmarks/backends.py                      # ~3 minutes on an idle 2-core machine
    .venv/bin/python benchmarks/backends.py --seconds 120 --threads 2 --models flpn_sres50 simplebaseline_r50

For FLPN-50 and SimpleBaseline-R50 at 256x192 and the shipped small model (FLPN-50 blocks [1,1,1,1], width
0.5, 160x160, 14 keypoints), all batch 1, it times:

=================  ==========================================================================================
ort-train          ONNX Runtime on the *training* graph (``export_onnx(deploy=False)``): what shipped before
ort                ONNX Runtime on the deployment graph (edgepose.export.deploy), all optimisations (NCHWc)
ort-nospin         the same with ``session.intra_op.allow_spinning = 0`` (threads sleep instead of spinning)
ort-extended       graph optimisation level EXTENDED: no NCHWc blocked layout
ort-1thread        one intra-op thread
openvino           OpenVINO CPU, fp32 inference precision, LATENCY hint (when ``openvino`` is installed)
ort-int8           ONNX Runtime on the static INT8 QDQ model (per-channel, calibrated on real photos)
openvino-int8      opt-in: OpenVINO on the INT8 QDQ model, probed in a child process first (it has crashed before)
shipped-file       ONNX Runtime on ``edgepose/assets/model/model.onnx`` as shipped (small model only)
=================  ==========================================================================================

Method (what made figures repeat within a few percent in issue 13): every (model, variant) gets *one* call
per round, in a shuffled order, over as many rounds as fit in ``--seconds``; ``OMP_WAIT_POLICY=PASSIVE`` is set
before any library loads; process CPU time is recorded beside wall time; the load average is read before and
after. Weights are random except in ``shipped-file``: latency does not depend on them. Prepared files are
cached in ``--workdir`` (a re-run only measures). Raw per-call times and the summary go to
``benchmarks/results/backends_<UTC time>.json``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / onnxruntime / openvino load

import argparse
import json
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"input_size": (160, 160), "blocks": (1, 1, 1, 1), "width": 0.5, "deconv_channels": 128, "keypoints": "lsp"}
MODELS = {
    "flpn_sres50": ("flpn_sres50", {}),
    "simplebaseline_r50": ("simplebaseline_r50", {}),
    "shipped_small": ("flpn_sres50", SMALL),
}
VARIANTS = ("ort-train", "ort", "ort-nospin", "ort-extended", "ort-1thread", "openvino", "ort-int8", "openvino-int8")


def machine() -> dict:
    cpu = platform.processor()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def versions() -> dict:
    import onnxruntime

    import edgepose

    out = {"edgepose": edgepose.__version__, "onnxruntime": onnxruntime.__version__}
    try:
        import openvino

        out["openvino"] = openvino.__version__
    except ImportError:
        out["openvino"] = None
    return out


def calibration_sources() -> list[Path]:
    coco = Path("/work/shared/data/coco_val2017_mini/images/val2017")
    return [ROOT / "edgepose" / "assets" / "photos", *([coco] if coco.is_dir() else [])]


def prepare(key: str, workdir: Path, log) -> dict:
    """Export (training and deployment graph), quantise and count MACs of one model; cached in ``workdir``."""
    name, overrides = MODELS[key]
    files = {v: workdir / f"{key}.{v}.onnx" for v in ("train", "deploy", "int8")}
    meta_file = workdir / f"{key}.json"
    if all(f.is_file() for f in files.values()) and meta_file.is_file():
        return {**json.loads(meta_file.read_text()), "files": {k: str(v) for k, v in files.items()}}
    import torch

    from edgepose.analysis.complexity import count_complexity
    from edgepose.export.onnx import export_onnx
    from edgepose.export.quantize import quantize_onnx
    from edgepose.models import build_model

    torch.manual_seed(0)
    model = build_model(name, **overrides).eval()
    macs = count_complexity(model).macs
    log(f"{key}: exporting the training graph")
    export_onnx(model, files["train"], deploy=False, check=False, dynamic_batch=False)
    log(f"{key}: exporting the deployment graph")
    result = export_onnx(model, files["deploy"], check=False, dynamic_batch=False)
    log(f"{key}: INT8 quantisation")
    report = quantize_onnx(files["deploy"], files["int8"], calibration_sources(), max_images=4)
    meta = {
        "model": name, "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
        "gmacs": macs / 1e9, "deployment_graph": result.deploy.summary() if result.deploy else None,
        "int8_vs_fp32": {"max_abs_diff": report.max_abs_diff, "keypoint_mean_px": report.keypoint_mean_px},
    }  # fmt: skip
    meta_file.write_text(json.dumps(meta, indent=1))
    return {**meta, "files": {k: str(v) for k, v in files.items()}}


def openvino_int8_works(path: str, threads: int) -> tuple[bool, str]:
    """Compile and run the INT8 file with OpenVINO in a child process (a crash there must not end this run)."""
    code = (
        "import sys; from edgepose.runtime.session import OnnxNetwork; import numpy as np;"
        f"n = OnnxNetwork({path!r}, threads={threads}, backend='openvino');"
        "n(np.zeros((1, 3, *n.info.input_size), np.float32)); print('ok')"
    )
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return False, "timed out after 120 s"
    if proc.returncode == 0 and "ok" in proc.stdout:
        return True, ""
    tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
    return False, f"exit code {proc.returncode}: {tail[:200]}"


def ort_session(path: str, threads: int, *, spin: bool = True, level: str = "all"):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    }[level]
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})


def openvino_call(path: str, threads: int):
    from edgepose.runtime.session import OnnxNetwork

    net = OnnxNetwork(path, threads=threads, backend="openvino")
    return lambda x: net.runner.run(x)


def build_calls(prepared: dict, threads: int, variants: list[str], notes: dict, log) -> dict:
    """{(model, variant): callable(x)} for every variant that runs here; skips are explained in ``notes``."""
    from edgepose.runtime.session import openvino_available

    calls = {}
    for key, meta in prepared.items():
        f = meta["files"]
        makers = {
            "ort-train": lambda f=f: ort_session(f["train"], threads),
            "ort": lambda f=f: ort_session(f["deploy"], threads),
            "ort-nospin": lambda f=f: ort_session(f["deploy"], threads, spin=False),
            "ort-extended": lambda f=f: ort_session(f["deploy"], threads, level="extended"),
            "ort-1thread": lambda f=f: ort_session(f["deploy"], 1),
            "openvino": lambda f=f: openvino_call(f["deploy"], threads),
            "ort-int8": lambda f=f: ort_session(f["int8"], threads),
            "openvino-int8": lambda f=f: openvino_call(f["int8"], threads),
        }
        for variant in variants:
            if variant.startswith("openvino") and not openvino_available():
                notes[variant] = "openvino is not installed (pip install 'edgepose[openvino]')"
                continue
            if variant == "openvino-int8":
                ok, why = openvino_int8_works(f["int8"], threads)
                if not ok:
                    notes[f"{key}/{variant}"] = f"OpenVINO failed on the INT8 QDQ model ({why})"
                    log(f"{key}: openvino-int8 skipped: {why}")
                    continue
            calls[(key, variant)] = makers[variant]()
        shipped = ROOT / "edgepose" / "assets" / "model" / "model.onnx"
        if key == "shipped_small" and shipped.is_file():
            calls[(key, "shipped-file")] = ort_session(str(shipped), threads)
    return calls


def measure(calls: dict, inputs: dict, seconds: float, warmup: int, seed: int) -> dict:
    """One call per (model, variant) per round, shuffled order, until ``seconds`` have passed."""
    for k, call in calls.items():
        for _ in range(warmup):
            call(inputs[k[0]])
    raw = {k: {"wall_ms": [], "cpu_ms": []} for k in calls}
    order, rng, start, rounds = list(calls), random.Random(seed), time.perf_counter(), 0
    while time.perf_counter() - start < seconds or rounds < 3:
        rng.shuffle(order)
        for k in order:
            c0, t0 = time.process_time(), time.perf_counter()
            calls[k](inputs[k[0]])
            raw[k]["wall_ms"].append((time.perf_counter() - t0) * 1e3)
            raw[k]["cpu_ms"].append((time.process_time() - c0) * 1e3)
        rounds += 1
    return raw


def summarise(raw: dict, prepared: dict) -> dict:
    rows = {}
    for (key, variant), r in raw.items():
        wall = np.asarray(r["wall_ms"])
        q1, med, q3 = np.percentile(wall, [25, 50, 75])
        rows[f"{key}/{variant}"] = {
            "model": key, "variant": variant, "calls": len(wall), "wall_ms_median": round(float(med), 2),
            "wall_ms_iqr": [round(float(q1), 2), round(float(q3), 2)],
            "cpu_ms_median": round(float(np.median(r["cpu_ms"])), 2),
            "gmac_per_s": round(prepared[key]["gmacs"] / (med / 1e3), 2),
        }  # fmt: skip
    best = {}
    for key in prepared:
        mine = {v["variant"]: v for v in rows.values() if v["model"] == key and v["variant"] != "shipped-file"}
        if mine:
            best[key] = min(mine.values(), key=lambda v: v["wall_ms_median"])["variant"]
    ratios = {}
    if "flpn_sres50" in prepared and "simplebaseline_r50" in prepared:
        for variant in VARIANTS:
            a, b = rows.get(f"flpn_sres50/{variant}"), rows.get(f"simplebaseline_r50/{variant}")
            if a and b:
                ratios[variant] = round(a["wall_ms_median"] / b["wall_ms_median"], 3)
        a = rows.get(f"flpn_sres50/{best.get('flpn_sres50')}")
        b = rows.get(f"simplebaseline_r50/{best.get('simplebaseline_r50')}")
        if a and b:
            ratios["best_vs_best"] = round(a["wall_ms_median"] / b["wall_ms_median"], 3)
    return {"rows": rows, "best_variant": best, "flpn50_over_sb50_wall": ratios}


def print_table(summary: dict, prepared: dict) -> None:
    print(f"{'model':20s} {'variant':14s} {'calls':>5s} {'wall ms':>9s} {'IQR':>17s} {'CPU ms':>8s} {'GMAC/s':>7s}")
    for row in summary["rows"].values():
        q1, q3 = row["wall_ms_iqr"]
        print(f"{row['model']:20s} {row['variant']:14s} {row['calls']:5d} {row['wall_ms_median']:9.1f} "
              f"{f'{q1:.1f}-{q3:.1f}':>17s} {row['cpu_ms_median']:8.1f} {row['gmac_per_s']:7.1f}")  # fmt: skip
    print("best variant per model:", summary["best_variant"])
    print("FLPN-50 / SimpleBaseline-R50 (median wall):", summary["flpn50_over_sb50_wall"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=[v for v in VARIANTS if v != "openvino-int8"],
                   help="default: all but openvino-int8 (it timed out or crashed on this AMD CPU; opt in)")  # fmt: skip
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="intra-op threads (default: all cores)")
    p.add_argument("--seconds", type=float, default=60.0, help="measuring time after warm-up (default 60)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/edgepose_backends"), help="cache of prepared files")
    p.add_argument("--out", type=Path, default=None, help="JSON output (default: benchmarks/results/)")
    args = p.parse_args(argv)

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    args.workdir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    prepared = {key: prepare(key, args.workdir, log) for key in args.models}
    notes: dict[str, str] = {}
    calls = build_calls(prepared, args.threads, args.variants, notes, log)
    rng = np.random.default_rng(0)
    inputs = {}
    for key, (_, overrides) in ((k, MODELS[k]) for k in prepared):
        h, w = overrides.get("input_size", (256, 192))
        inputs[key] = rng.standard_normal((1, 3, h, w)).astype(np.float32)
    log(f"measuring {len(calls)} (model, variant) pairs for {args.seconds:.0f} s, {args.threads} threads")
    load_start = os.getloadavg()
    raw = measure(calls, inputs, args.seconds, args.warmup, seed=0)
    load_end = os.getloadavg()
    summary = summarise(raw, prepared)
    print_table(summary, prepared)
    print(f"load average (1/5/15 min): before {load_before}, measuring start {load_start}, end {load_end}")
    record = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(), "versions": versions(), "threads": args.threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_average": {"before_prepare": load_before, "measure_start": load_start, "measure_end": load_end},
        "training_running": subprocess.run(["pgrep", "-f", "edgepose train"], capture_output=True).returncode == 0,
        "models": {k: {kk: vv for kk, vv in m.items() if kk != "files"} for k, m in prepared.items()},
        "notes": notes, "summary": summary,
        "raw": {f"{k}/{v}": r for (k, v), r in raw.items()},
        "total_seconds": round(time.perf_counter() - t_start, 1),
    }  # fmt: skip
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = args.out or ROOT / "benchmarks" / "results" / f"backends_{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    log(f"wrote {out} ({record['total_seconds']} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
