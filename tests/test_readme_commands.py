"""The README's commands work as written (issue 15 item 4).

Every ``edgepose ...`` line of README.md's ```bash blocks is parsed with the real argument parser, so an option
that does not exist, or a grammar the command rejects, fails here. The lines that need no COCO, GPU, camera or
trained checkpoint are run, in-process in a scratch folder, with a few settings made tiny (:data:`RUN`); the
others are listed in :data:`NOT_RUN` with the reason and the test that covers them instead. The ```python block
(the three-line API) runs against a tiny exported ONNX model.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgepose.cli.main import build_parser, main

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
PHOTOS = REPO_ROOT / "edgepose" / "assets" / "photos"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def edgepose_commands() -> list[list[str]]:
    """The argument lists of every ``edgepose`` invocation in the README's bash blocks (comments removed)."""
    commands = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            for segment in line.split("&&"):
                tokens = shlex.split(segment, comments=True)
                for i, tok in enumerate(tokens):
                    if tok == "edgepose" or tok.endswith("/edgepose"):
                        commands.append(tokens[i + 1 :])
                        break
    return commands


COMMANDS = edgepose_commands()

SSIM_TINY = ["--max-images", "2", "--pairs", "30", "--input-size", "128", "96"]

# Lines run as written, with these changes to keep them to seconds: (README prefix, replacements, extra args).
RUN: dict[str, tuple[dict[str, str], list[str]]] = {
    "demo": ({}, []),  # the shipped model on the bundled photos, torch-free: seconds as written
    "models": ({}, []),
    "complexity flpn_sres50 --json": ({}, []),
    "complexity flpn_sres50 --set gc=false": ({}, []),
    # one thread: two OpenMP threads spin against other jobs on a loaded machine (measured 33 min under load 25)
    "bench latency": ({"2": "1"}, ["--runs", "1", "--warmup", "0", "--batch", "1", "--input-size", "64", "64"]),
    "bench decode": ({}, ["--repeats", "1"]),
    "synth data/synth": ({"2000": "3"}, []),
    "ssim flpn_sres50 --images": ({"images/": str(PHOTOS)}, SSIM_TINY),
}

# Lines not run here, with the reason (and what runs them instead). Each is still parsed.
NOT_RUN = {
    "quickstart": "a full run takes ~3.6 min (7 CPU-minutes); tests/cli/test_quickstart.py runs `quickstart --tiny`",
    "complexity --all": "counts every model (minutes); tests/analysis/test_complexity_models.py checks the rows",
    "bench deploy": "exports and quantises full models (minutes); tests/cli/test_bench_deploy_cli.py",
    "train configs/flpn_sres50_coco_256x192.yaml --resume": "needs COCO and a run; tests/engine/test_resume.py",
    "train configs/flpn_sres50_coco_256x192.yaml": "needs COCO; here it must list the missing paths in one line "
    "(test_train_without_coco_lists_every_missing_path)",
    "eval": "needs COCO and a trained checkpoint; tests/engine/test_trainer.py",
    "evaluate-results": "needs COCO val annotations and a results file; tests/evaluation/test_coco_eval.py",
    "oracle": "needs COCO val annotations; tests/evaluation/test_oracle_*.py run it on the val mini set",
    "predict": "needs a trained checkpoint or ONNX model and a photo; tests/cli/test_predict.py",
    "pck": "scores 500 LSPet images (about a minute); tests/cli/test_cli_pck.py runs it on 20 and on tiny folders",
    "train configs/flpn_small_lspet_160x160.yaml": "trains for about 1.5 h; tests/engine/test_lspet_training.py "
    "runs a tiny LSPet training",
    "export": "needs a trained checkpoint; tests/export/test_onnx_export.py",
    "quantize": "needs an exported model and calibration images; tests/export/test_quantize.py",
    "ssim sweep": "trains one model per grid point; tests/analysis/test_ratio_sweep.py runs a one-step sweep",
}


def _key(argv: list[str], table: dict) -> str | None:
    line = " ".join(argv)
    matches = [k for k in table if line == k or line.startswith(k + " ")]
    return max(matches, key=len) if matches else None


def test_the_readme_has_commands_to_check():
    assert len(COMMANDS) >= 20
    assert any(c[:1] == ["models"] for c in COMMANDS) and any(c[:2] == ["ssim", "sweep"] for c in COMMANDS)


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c)[:60] for c in COMMANDS])
def test_every_readme_command_parses(argv):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`edgepose {' '.join(argv)}` is rejected by the parser (exit {exc.code})")
    assert getattr(args, "func", None) is not None, f"`edgepose {' '.join(argv)}` names no command"


def test_every_readme_command_is_run_or_says_why_not():
    unplanned = [" ".join(c) for c in COMMANDS if _key(c, RUN) is None and _key(c, NOT_RUN) is None]
    assert not unplanned, f"README commands with no entry in RUN or NOT_RUN of this test: {unplanned}"


RUNNABLE = [c for c in COMMANDS if _key(c, RUN) is not None and _key(c, NOT_RUN) is None]


@pytest.mark.parametrize("argv", RUNNABLE, ids=[" ".join(c)[:60] for c in RUNNABLE])
def test_readme_command_runs(argv, tmp_path, monkeypatch, capsys):
    replace, extra = RUN[_key(argv, RUN)]
    run = [replace.get(a, a) for a in argv] + extra
    monkeypatch.chdir(tmp_path)
    rc = main(run)
    out, err = capsys.readouterr()
    assert rc == 0, f"`edgepose {' '.join(run)}` exited {rc}: {err[-2000:]}"
    assert out.strip(), "the command printed nothing"
    if "--json" in run:
        json.loads(out)
    if "--plot" in run:
        plot = tmp_path / run[run.index("--plot") + 1]
        assert plot.is_file() and plot.stat().st_size > 1000
    if run[0] == "synth":
        assert list((tmp_path / run[1]).rglob("*.json")), "synth wrote no annotation file"


def test_train_without_coco_lists_every_missing_path(tmp_path, monkeypatch, capsys):
    line = next(c for c in COMMANDS if c[:1] == ["train"] and "coco" in c[1] and "--resume" not in c)
    from edgepose.cli.train import missing_data_paths
    from edgepose.engine.config import load_experiment

    cfg = load_experiment(REPO_ROOT / line[1])
    if not missing_data_paths(cfg):
        pytest.skip("COCO is installed where the config points; the README line would start a full training")
    monkeypatch.chdir(tmp_path)
    assert main([line[0], str(REPO_ROOT / line[1]), *line[2:]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data path(s) not found" in err and "--set data.train_ann=PATH" in err
    assert "data.train_ann=" in err and "data.val_images=" in err


def test_readme_python_api_runs(tmp_path):
    """The ```python block, as written, on a photo and a tiny exported top-down model."""
    import torch
    from standins import TinyTopdown, unit_scale_outputs

    from edgepose.export.onnx import export_onnx

    (block,) = [b for b in _blocks("python") if "PoseEstimator" in b]
    torch.manual_seed(0)
    model = unit_scale_outputs(TinyTopdown(input_size=(64, 48)), torch.randn(2, 3, 64, 48))
    export_onnx(model, tmp_path / "flpn.onnx")
    shutil.copy(next(PHOTOS.glob("*.jpg")), tmp_path / "photo.jpg")
    check = "\nassert len(persons) == 1 and persons[0].keypoints.shape == (17, 3)\n"
    proc = subprocess.run([sys.executable, "-c", block + check], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    import cv2

    drawn, photo = cv2.imread(str(tmp_path / "poses.jpg")), cv2.imread(str(tmp_path / "photo.jpg"))
    assert drawn is not None and drawn.shape == photo.shape
    assert (cv2.absdiff(drawn, photo).max(axis=2) > 60).sum() > 100, "nothing was drawn on the photo"
