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
    dup = gt(good)
    dup["annotations"].append(dict(good))  # the same annotation id twice
    f["gt_dup_ids"] = root / "gt_dup_ids.json"
    f["gt_dup_ids"].write_text(json.dumps(dup))
    # paths of the wrong kind
    f["fifo"] = root / "pipe"
    os.mkfifo(f["fifo"])
    f["zero_link"] = root / "zero_link"
    f["zero_link"].symlink_to("/dev/zero")
    f["empty_yaml"] = root / "empty.yaml"
    f["empty_yaml"].write_text("# nothing here\n")
    f["config_dir"] = root / "config.yaml"  # a folder named like a config
    f["config_dir"].mkdir()
    f["lsp_mat_dir"] = root / "lsp_mat_dir"  # joints.mat is a folder
    (f["lsp_mat_dir"] / "joints.mat").mkdir(parents=True)
    (f["lsp_mat_dir"] / "images").mkdir()
    # checkpoints: a finite one and a NaN one of the same tiny FLPN, and a toy config that trains in seconds
    from edgepose.engine.checkpoint import save_checkpoint
    from edgepose.models import build_model

    overrides = {"input_size": [64, 64], "blocks": [1, 1, 1, 1], "width": 0.25, "deconv_channels": 32}
    net = build_model("flpn_sres50", **overrides)
    cfg = {"task": "topdown", "model": {"name": "flpn_sres50", "overrides": overrides},
           "data": {"dataset": "coco", "train_ann": str(f["gt"]), "train_images": str(root),
                    "val_ann": str(f["gt"]), "val_images": str(root), "input_size": [64, 64]},
           "eval": {"use_gt_boxes": True},
           "train": {"epochs": 1, "batch_size": 1, "workers": 0, "device": "cpu", "amp": False}}  # fmt: skip
    f["config"] = root / "tiny.yaml"
    f["config"].write_text(json.dumps(cfg))  # JSON is YAML
    state = {k: v.clone() for k, v in net.state_dict().items()}
    f["ckpt"] = save_checkpoint(root / "tiny.pt", {"model": state, "model_name": "flpn_sres50",
                                                    "model_overrides": overrides, "config": cfg})  # fmt: skip
    nan_state = {k: v.clone().fill_(float("nan")) if v.is_floating_point() else v for k, v in state.items()}
    f["nan_ckpt"] = save_checkpoint(root / "nan.pt", {"model": nan_state, "model_name": "flpn_sres50",
                                                       "model_overrides": overrides, "config": cfg})  # fmt: skip
    f["finished_run"] = root / "finished_run"
    f["finished_run"].mkdir()
    (f["finished_run"] / "last.pt").write_bytes(f["ckpt"].read_bytes())
    f["corrupt_run"] = root / "corrupt_run"
    f["corrupt_run"].mkdir()
    (f["corrupt_run"] / "last.pt").write_bytes(b"garbage")
    # ImageFolder trees whose classes differ
    for split, names in (("train", ("a", "b")), ("val", ("a", "c"))):
        for name in names:
            folder = root / "cls" / split / name
            folder.mkdir(parents=True)
            cv2.imwrite(str(folder / "0.jpg"), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
    f["pretrain_cfg"] = root / "pretrain.yaml"
    f["pretrain_cfg"].write_text(json.dumps({
        "model": {"name": "flpn_sres50", "overrides": overrides},
        "data": {"train_dir": str(root / "cls" / "train"), "val_dir": str(root / "cls" / "val"), "input_size": 32},
        "train": {"epochs": 1, "batch_size": 2, "workers": 0, "device": "cpu"}}))  # fmt: skip
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
    c = more_cases(f, tmp) + c  # issue 20's cases first: a run cut short still covers them
    if not cuda:
        c.append(Case("predict", "--device cuda without CUDA", [*p, "--device", "cuda"], "no CUDAExecutionProvider"))
    return c


def more_cases(f: dict[str, Path], tmp: Path) -> list[Case]:
    """Issue 20's cases: the rest of the commands, wrong kinds of path, NaN weights, nothing overwritten."""
    import torch

    onnx, img, out = str(f["onnx"]), str(f["image"]), str(tmp / "out")
    q = ["quantize", onnx, "--out", out + ".q.onnx", "--calib"]
    ev = ["evaluate-results", "--results", str(f["results"]), "--ann"]
    c = [
        Case("quantize", "--calib is a named pipe", [*q, str(f["fifo"])], "this is a named pipe"),
        Case("quantize", "--calib is a link to /dev/zero", [*q, str(f["zero_link"])], "a character device"),
        Case("quantize", "--out is the input model", ["quantize", onnx, "--out", onnx, "--calib", str(f["calib"])],
             "would replace the fp32 model"),
        Case("evaluate-results", "duplicate annotation ids", [*ev, str(f["gt_dup_ids"])], "duplicate annotation id"),
        Case("evaluate-results", "--ann is a folder", [*ev, str(f["empty_dir"])], "this is a folder"),
        Case("evaluate-results", "--ann is a named pipe", [*ev, str(f["fifo"])], "this is a named pipe"),
        Case("oracle", "topdown: --ann is a folder", ["oracle", "topdown", "--ann", str(f["empty_dir"])], "a folder"),
        Case("export", "--no-deploy of a NaN checkpoint",
             ["export", str(f["nan_ckpt"]), "--out", out + ".nan.onnx", "--no-deploy"], "weights are not finite"),
        Case("export", "NaN checkpoint (deploy graph)", ["export", str(f["nan_ckpt"]), "--out", out + ".nan.onnx"],
             "weights are not finite"),
        Case("export", "--input-size 4 4", ["export", str(f["ckpt"]), "--out", out + ".small.onnx", "--input-size",
                                           "4", "4"], "--input-size must be at least 32"),
        Case("eval", "--weights a NaN checkpoint", ["eval", str(f["config"]), "--weights", str(f["nan_ckpt"]),
                                                   "--out", out + "_eval"], "weights are not finite"),
        Case("eval", "config is a folder", ["eval", str(f["config_dir"]), "--weights", str(f["ckpt"])], "a folder"),
        Case("train", "empty config", ["train", str(f["empty_yaml"])], "empty.yaml: the config file is empty"),
        Case("train", "config is a named pipe", ["train", str(f["fifo"])], "this is a named pipe"),
        Case("train", "config is a folder", ["train", str(f["config_dir"])], "this is a folder"),
        Case("train", "plain train into a folder holding a run",
             ["train", str(f["config"]), "--out", str(f["finished_run"])], "already holds a run"),
        Case("train", "--resume over a corrupt last.pt (refused, file kept)",
             ["train", str(f["config"]), "--out", str(f["corrupt_run"]), "--resume"], "nothing to resume from"),
        Case("pretrain", "empty config", ["pretrain", str(f["empty_yaml"])], "the config file is empty"),
        Case("pretrain", "validation classes unlike the training ones", ["pretrain", str(f["pretrain_cfg"]),
             "--out", out + "_pre"], "only in validation: c"),
        Case("pck", "--root is a file", ["pck", "--root", str(f["a_file"]), "--range", "1", "2"], "this is a file"),
        Case("pck", "--fast with --box joints", ["pck", "--root", str(f["a_file"]), "--fast", "--box", "joints"],
             "--fast runs the whole image with no detector and no refinement: drop --box"),
        Case("predict", "--fast with --detector hog", ["predict", img, "--fast", "--detector", "hog", "--out", out],
             "drop --detector"),
        Case("demo", "--fast with --refine 2", ["demo", "--fast", "--refine", "2", "--out", out], "drop --refine"),
        Case("pck", "joints.mat is a folder", ["pck", "--root", str(f["lsp_mat_dir"]), "--range", "1", "2"],
             "this is a folder"),
        Case("quickstart", "--seed -1", ["quickstart", "--tiny", "--out", out + "_qs", "--seed", "-1"],
             "--seed must be >= 0"),
        Case("quickstart", "--minutes inf", ["quickstart", "--tiny", "--out", out + "_qs", "--minutes", "inf"],
             "--minutes must be a finite number"),
        Case("quickstart", "--lspet-root is a file", ["quickstart", "--tiny", "--out", out + "_qs", "--lspet-root",
                                                     str(f["a_file"])], "is a file, not a folder"),
        Case("ssim", "--layers names no module", ["ssim", "flpn_sres50", "--images", str(f["calib"]), "--layers",
                                                 "layer9"], "modules include"),
        Case("complexity", "--input-size 4 4", ["complexity", "flpn_sres50", "--input-size", "4", "4"],
             "--input-size"),
        Case("bench", "--threads 0", ["bench", "latency", "flpn_sres50", "--threads", "0"], "--threads"),
        Case("synth", "--val-fraction 2", ["synth", out + "_synth2", "--images", "4", "--val-fraction", "2"],
             "val_fraction"),
        Case("models", "unknown option", ["models", "--nope"], "unrecognized arguments", 2),
        Case("demo", "--threshold nan", ["demo", "--threshold", "nan", "--out", out + "_demo"], "--threshold"),
        Case("demo", "--threshold -5", ["demo", "--threshold", "-5", "--out", out + "_demo"], "--threshold"),
        Case("predict", "--weights a NaN checkpoint", ["predict", img, "--weights", str(f["nan_ckpt"])],
             "not finite"),
        Case("predict", "--refine 1000", ["predict", img, "--onnx", onnx, "--refine", "1000"], "--refine"),
        Case("predict", "image is a named pipe", ["predict", str(f["fifo"]), "--onnx", onnx], "named pipe"),
    ]
    if not torch.cuda.is_available():
        c.append(Case("ssim", "--device cuda without CUDA", ["ssim", "flpn_sres50", "--images", str(f["calib"]),
                                                            "--device", "cuda"], "PyTorch sees no CUDA GPU"))
    return c


def run_dev_full(cwd: Path) -> tuple[bool, int, str]:
    """``edgepose models --json > /dev/full`` through the ``edgepose`` launcher (the console script)."""
    launcher = Path(sys.executable).with_name("edgepose")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([str(launcher), "models", "--json"], cwd=cwd, stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=600)  # fmt: skip
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    ok = proc.returncode == 2 and len(lines) == 1 and "cannot write the output" in last
    return ok, proc.returncode, last


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
        if Path("/dev/full").exists() and (not args.only or args.only == "models"):
            ok, code, last = run_dev_full(tmp)
            failed += not ok
            todo.append(Case("models", "--json > /dev/full (launcher)", [], ""))
            rows.append(f"| models | --json > /dev/full (the edgepose launcher) | {code} | "
                        f"{'' if ok else '**FAILED** '}`{last}` |")  # fmt: skip
            print(rows[-1], flush=True)
    table = "\n".join(rows)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    print(f"\n{len(todo) - failed} of {len(todo)} cases passed", file=sys.stderr)
    return failed


if __name__ == "__main__":
    sys.exit(main())
