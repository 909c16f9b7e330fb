"""Bad-input sweep: run the commands with bad paths, bad numbers and bad files; no traceback, no silent garbage.

    python benchmarks/bad_input_sweep.py                 # prints a markdown table (kind, exit status, message)
    python benchmarks/bad_input_sweep.py --only predict  # one command
    python benchmarks/bad_input_sweep.py --markdown docs/errors-sweep.md

Each case runs ``python -m edgepose ...`` in a child process on small files made in a temporary folder (a tiny
exported top-down model, an INT8 copy of it, a bottom-up stand-in, images, broken files). A case passes when
the exit status is the expected one (2 for a user error, 0 for a counted skip), stderr holds no ``Traceback``,
and the last stderr line contains the expected words. The exit status of the script is the number of failed
cases. docs/errors.md lists what it printed. Not part of the test suite: it takes a few minutes (every case
starts Python; export cases import torch).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Case:
    command: str  # the subcommand (for --only and the table)
    kind: str  # what is wrong, in words
    args: list[str]
    expect: str  # words the last stderr line must contain
    code: int = 2


def make_fixtures(root: Path) -> dict[str, Path]:
    """Small models, images and broken files for the cases."""
    import torch

    sys.path.insert(0, str(REPO / "tests"))  # the stand-in networks are test helpers (tests/standins.py)
    from standins import OracleBottomup, TinyTopdown, unit_scale_outputs

    from edgepose.export.onnx import export_onnx
    from edgepose.export.quantize import quantize_onnx

    f: dict[str, Path] = {}
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (96, 80, 3), dtype=np.uint8)
    f["image"] = root / "000000000785.jpg"
    cv2.imwrite(str(f["image"]), image)
    f["calib"] = root / "calib"
    f["calib"].mkdir()
    for i in range(2):
        cv2.imwrite(str(f["calib"] / f"{i}.jpg"), rng.integers(0, 255, (96, 80, 3), dtype=np.uint8))
    torch.manual_seed(0)
    f["onnx"] = export_onnx(unit_scale_outputs(TinyTopdown(), torch.randn(2, 3, 64, 48)), root / "tiny.onnx").path
    f["int8"] = quantize_onnx(f["onnx"], root / "tiny.int8.onnx", [f["calib"]], max_images=2).path
    kp = np.zeros((1, 17, 3))
    kp[0, :, 0], kp[0, :, 1], kp[0, :, 2] = np.linspace(20, 60, 17), np.linspace(10, 90, 17), 2
    f["bottomup"] = export_onnx(OracleBottomup.from_coco_keypoints(kp, (96, 80), height=64), root / "bu.onnx").path
    f["corrupt_image"] = root / "broken.jpg"
    f["corrupt_image"].write_bytes(b"\xff\xd8 truncated")
    f["text"] = root / "notes.txt"
    f["text"].write_text("hello")
    f["empty_dir"] = root / "empty"
    f["empty_dir"].mkdir()
    f["empty_video"] = root / "empty.mp4"
    cv2.VideoWriter(str(f["empty_video"]), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 64)).release()
    f["corrupt_onnx"] = root / "corrupt.onnx"
    f["corrupt_onnx"].write_bytes(b"garbage")
    f["corrupt_pt"] = root / "corrupt.pt"
    f["corrupt_pt"].write_bytes(b"garbage")
    f["malformed_json"] = root / "malformed.json"
    f["malformed_json"].write_text('{"images": [')
    f["a_file"] = root / "a_file"
    f["a_file"].write_text("x")
    dets = [{"image_id": 785, "category_id": 1, "bbox": b, "score": 0.9}
            for b in ([5, 5, 40, 60], [float("nan"), 1, 2, 3], [1, 1, float("inf"), 3], [10, 10, -5, 20],
                      [0, 0, 1e9, 1e9], [5000, 5000, 30, 30])]  # fmt: skip
    f["dets"] = root / "dets.json"
    f["dets"].write_text(json.dumps(dets))
    f["bad_dets"] = root / "bad_dets.json"
    f["bad_dets"].write_text('[{"image_id": 785, "bbox": [1, 2]}]')

    def person(kps=None, bbox=(10, 10, 40, 70)):
        kp = kps if kps is not None else [v for j in range(17) for v in (12 + 2 * j, 12 + 3 * j, 2)]
        return {"id": 1, "image_id": 785, "category_id": 1, "iscrowd": 0, "bbox": list(bbox), "area": 2800,
                "num_keypoints": 17, "keypoints": kp}  # fmt: skip

    def gt(ann):
        return {"images": [{"id": 785, "file_name": "000000000785.jpg", "width": 80, "height": 96}],
                "annotations": [ann], "categories": [{"id": 1, "name": "person"}]}  # fmt: skip

    good = person()
    f["gt"] = root / "gt.json"
    f["gt"].write_text(json.dumps(gt(good)))
    bad = dict(good, keypoints=[float("nan"), *good["keypoints"][1:]])
    f["gt_nan"] = root / "gt_nan.json"
    f["gt_nan"].write_text(json.dumps(gt(bad)))
    f["gt_str"] = root / "gt_str.json"
    f["gt_str"].write_text(json.dumps(gt(dict(good, keypoints=[str(v) for v in good["keypoints"]]))))
    f["gt_vis7"] = root / "gt_vis7.json"
    f["gt_vis7"].write_text(json.dumps(gt(dict(good, keypoints=[*good["keypoints"][:2], 7, *good["keypoints"][3:]]))))
    both = gt(good)
    both["annotations"].append(dict(good, id=2, bbox=[500, 600, 20, 20]))
    f["gt_outside"] = root / "gt_outside.json"
    f["gt_outside"].write_text(json.dumps(both))
    res = [{"image_id": 785, "category_id": 1, "keypoints": good["keypoints"], "score": 0.9}]
    f["results"] = root / "results.json"
    f["results"].write_text(json.dumps(res))
    f["results_nan"] = root / "results_nan.json"
    f["results_nan"].write_text(json.dumps([dict(res[0], score=float("nan"))]))
    f["results_dict"] = root / "results_dict.json"
    f["results_dict"].write_text(json.dumps({"image_id": 785}))
    f["results_unknown_image"] = root / "results_unknown.json"
    f["results_unknown_image"].write_text(json.dumps([dict(res[0], image_id=1)]))
    return f


def cases(f: dict[str, Path], tmp: Path) -> list[Case]:
    img, onnx = str(f["image"]), str(f["onnx"])
    p = ["predict", img, "--onnx", onnx]
    out = str(tmp / "out")
    under = str(f["a_file"] / "sub" / "x.json")
    cuda = "CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers()
    c = [
        Case("predict", "missing image", ["predict", str(tmp / "nope.jpg"), "--onnx", onnx], "no such file"),
        Case("predict", "corrupt image", ["predict", str(f["corrupt_image"]), "--onnx", onnx], "cannot decode"),
        Case("predict", "unknown file type", ["predict", str(f["text"]), "--onnx", onnx], "unknown file type"),
        Case("predict", "folder without images", ["predict", str(f["empty_dir"]), "--onnx", onnx], "no images"),
        Case("predict", "empty video", ["predict", str(f["empty_video"]), "--onnx", onnx], "empty.mp4"),
        Case("predict", "missing camera", ["predict", "9", "--onnx", onnx], "camera 9 is not available"),
        Case("predict", "corrupt .onnx", ["predict", img, "--onnx", str(f["corrupt_onnx"])], "not a loadable ONNX"),
        Case("predict", "corrupt checkpoint", ["predict", img, "--weights", str(f["corrupt_pt"])], "corrupt.pt"),
        Case("predict", "--threads -1", [*p, "--threads", "-1"], "--threads must be >= 1"),
        Case("predict", "--threads 0", [*p, "--threads", "0"], "--threads must be >= 1"),
        Case("predict", "--height -8", [*p, "--height", "-8"], "--height must be >= 16"),
        Case("predict", "--height 0", [*p, "--height", "0"], "--height must be >= 16"),
        Case("predict", "--max-frames 0", [*p, "--max-frames", "0"], "--max-frames must be >= 1"),
        Case("predict", "--flush-every 0", [*p, "--flush-every", "0"], "--flush-every must be >= 1"),
        Case("predict", "--threshold nan", [*p, "--threshold", "nan"], "--threshold must be a finite number"),
        Case("predict", "--box-threshold inf", [*p, "--box-threshold", "inf"], "--box-threshold must be a finite"),
        Case("predict", "--nms-threshold 2", [*p, "--nms-threshold", "2"], "--nms-threshold must be in"),
        Case("predict", "--device foo", [*p, "--device", "foo"], "unknown device"),
        Case("predict", "--out is an existing file", [*p, "--out", str(f["a_file"])], "must be a folder"),
        Case("predict", "--out under a file", [*p, "--out", str(f["a_file"] / "d")], "is a file, not a folder"),
        Case("predict", "--json is a folder", [*p, "--json", str(f["empty_dir"])], "must be a file name"),
        Case("predict", "--json under a file", [*p, "--json", under], "is a file, not a folder"),
        Case("predict", "--json in an unwritable place", [*p, "--json", "/proc/edgepose/x.json"], "cannot write"),
        Case("predict", "--boxes missing", [*p, "--boxes", str(tmp / "nope.json")], "not found"),
        Case("predict", "--boxes malformed JSON", [*p, "--boxes", str(f["malformed_json"])], "not a readable JSON"),
        Case("predict", "--boxes record without a 4-number bbox", [*p, "--boxes", str(f["bad_dets"])], "bbox"),
        Case("predict", "--boxes with a bottom-up model",
             ["predict", img, "--onnx", str(f["bottomup"]), "--boxes", str(f["dets"])], "applies to top-down"),
        Case("predict", "NaN / inf / negative / 1e9 / outside boxes (counted, run goes on)",
             [*p, "--boxes", str(f["dets"]), "--json", str(tmp / "r.json")], "person boxes dropped", 0),
        Case("predict", "--show without a display", [*p, "--show"], "--show needs"),
        Case("export", "unknown model name", ["export", "nosuchmodel", "--out", out + ".onnx"], "neither"),
        Case("export", "missing checkpoint", ["export", str(tmp / "nope.pt"), "--out", out + ".onnx"], "nope.pt"),
        Case("export", "corrupt checkpoint", ["export", str(f["corrupt_pt"]), "--out", out + ".onnx"], "corrupt.pt"),
        Case("export", "--input-size -128 96", ["export", "lwop_mobilenet", "--out", out + ".onnx", "--input-size",
                                               "-128", "96"], "--input-size must be two positive"),
        Case("export", "--input-size 127 95 (not a multiple of the stride)",
             ["export", "flpn_sres50", "--out", out + ".onnx", "--input-size", "127", "95", "--no-check"],
             "multiples of the topdown model's stride 4"),
        Case("export", "--opset 3", ["export", "lwop_mobilenet", "--out", out + ".onnx", "--opset", "3"], "--opset"),
        Case("export", "--out is a folder", ["export", "lwop_mobilenet", "--out", str(f["empty_dir"])],
             "must be a file name"),
        Case("export", "--out under a file", ["export", "lwop_mobilenet", "--out", under], "is a file"),
        Case("quantize", "already-INT8 model", ["quantize", str(f["int8"]), "--calib", str(f["calib"]), "--out",
                                               out + ".q.onnx"], "already quantised"),
        Case("quantize", "--max-images 0", ["quantize", onnx, "--calib", str(f["calib"]), "--out", out + ".q.onnx",
                                            "--max-images", "0"], "--max-images must be >= 1"),
        Case("quantize", "--max-images -1", ["quantize", onnx, "--calib", str(f["calib"]), "--out", out + ".q.onnx",
                                             "--max-images", "-1"], "--max-images must be >= 1"),
        Case("quantize", "no calibration images", ["quantize", onnx, "--calib", str(f["empty_dir"]), "--out",
                                                   out + ".q.onnx"], "no calibration images"),
        Case("quantize", "missing calibration folder", ["quantize", onnx, "--calib", str(tmp / "nope"), "--out",
                                                        out + ".q.onnx"], "not found"),
        Case("quantize", "corrupt model", ["quantize", str(f["corrupt_onnx"]), "--calib", str(f["calib"]), "--out",
                                           out + ".q.onnx"], "not a loadable ONNX"),
        Case("quantize", "--out is a folder", ["quantize", onnx, "--calib", str(f["calib"]), "--out",
                                               str(f["empty_dir"])], "must be a file name"),
        Case("synth", "--seed -1", ["synth", out + "_synth", "--seed", "-1"], "--seed must be >= 0"),
        Case("synth", "--images 0", ["synth", out + "_synth", "--images", "0"], "--images must be >= 1"),
        Case("synth", "--size 10 10", ["synth", out + "_synth", "--size", "10", "10"], "too small"),
        Case("synth", "--crowd-prob nan", ["synth", out + "_synth", "--crowd-prob", "nan"], "crowd_prob"),
        Case("synth", "OUT is an existing file", ["synth", str(f["a_file"]), "--images", "2"], "must be a folder"),
        Case("synth", "OUT under a file", ["synth", str(f["a_file"] / "d"), "--images", "2"], "is a file"),
        Case("evaluate-results", "missing annotation file",
             ["evaluate-results", "--ann", str(tmp / "nope.json"), "--results", str(f["results"])], "not found"),
        Case("evaluate-results", "malformed annotation JSON",
             ["evaluate-results", "--ann", str(f["malformed_json"]), "--results", str(f["results"])], "malformed"),
        Case("evaluate-results", "NaN keypoint in the ground truth",
             ["evaluate-results", "--ann", str(f["gt_nan"]), "--results", str(f["results"])], "NaN"),
        Case("evaluate-results", "ground-truth keypoints as strings",
             ["evaluate-results", "--ann", str(f["gt_str"]), "--results", str(f["results"])], "must be a number"),
        Case("evaluate-results", "ground-truth visibility 7",
             ["evaluate-results", "--ann", str(f["gt_vis7"]), "--results", str(f["results"])], "visibility 7"),
        Case("evaluate-results", "results file is not a list",
             ["evaluate-results", "--ann", str(f["gt"]), "--results", str(f["results_dict"])], "JSON list"),
        Case("evaluate-results", "NaN score in the results",
             ["evaluate-results", "--ann", str(f["gt"]), "--results", str(f["results_nan"])], "score"),
        Case("evaluate-results", "result for an image not in the annotations",
             ["evaluate-results", "--ann", str(f["gt"]), "--results", str(f["results_unknown_image"])],
             "not an image of the annotation file"),
        Case("oracle", "topdown: NaN keypoint", ["oracle", "topdown", "--ann", str(f["gt_nan"])], "NaN"),
        Case("oracle", "topdown: keypoints as strings", ["oracle", "topdown", "--ann", str(f["gt_str"])], "number"),
        Case("oracle", "bottomup: visibility 7", ["oracle", "bottomup", "--ann", str(f["gt_vis7"])], "visibility 7"),
        Case("oracle", "topdown: missing file", ["oracle", "topdown", "--ann", str(tmp / "nope.json")], "not found"),
        Case("oracle", "topdown: --input-size 0 0", ["oracle", "topdown", "--ann", str(f["gt"]), "--input-size", "0",
                                                     "0"], "--input-size"),
        Case("oracle", "topdown: --sigma nan", ["oracle", "topdown", "--ann", str(f["gt"]), "--sigma", "nan"],
             "--sigma"),
        Case("oracle", "bottomup: --height 0", ["oracle", "bottomup", "--ann", str(f["gt"]), "--height", "0"],
             "--height"),
        Case("oracle", "topdown: a person outside the image (counted, run goes on)",
             ["oracle", "topdown", "--ann", str(f["gt_outside"])], "1 box outside the image", 0),
    ]
    if not cuda:
        c.append(Case("predict", "--device cuda without CUDA", [*p, "--device", "cuda"], "no CUDAExecutionProvider"))
    return c


def run_case(case: Case, cwd: Path) -> tuple[bool, int, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    proc = subprocess.run([sys.executable, "-m", "edgepose", *case.args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    ok = proc.returncode == case.code and "Traceback" not in proc.stderr and case.expect in last
    return ok, proc.returncode, last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="run only the cases of this command (predict, export, ...)")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args(argv)
    failed = 0
    rows = ["| command | bad input | exit | message (last stderr line) |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="edgepose-sweep-") as tmp_name:
        tmp = Path(tmp_name)
        fixtures = make_fixtures(tmp)
        todo = [c for c in cases(fixtures, tmp) if not args.only or c.command == args.only]
        for case in todo:
            ok, code, last = run_case(case, tmp)
            failed += not ok
            shown = last.replace(tmp_name, "$TMP").replace("|", "\\|")
            rows.append(f"| {case.command} | {case.kind} | {code} | {'' if ok else '**FAILED** '}`{shown}` |")
            print(rows[-1], flush=True)
    table = "\n".join(rows)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    print(f"\n{len(todo) - failed} of {len(todo)} cases passed", file=sys.stderr)
    return failed


if __name__ == "__main__":
    sys.exit(main())
