"""The README's commands work as written (issue 15 item 4).

Every ``edgepose ...`` line of README.md's ```bash blocks is parsed with the real argument parser, so an option
that does not exist, or a grammar the command rejects, fails here. The lines that need no COCO, GPU, camera or
trained checkpoint are run, in-process in a scratch folder, with a few settings made tiny (:data:`RUN`); the
others are listed in :data:`NOT_RUN` with the reason and the test that covers them instead. The ```python block
(the Python API) runs as written on a bundled photo with the shipped model, and gives the keypoints
``edgepose predict`` gives.
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
    "predict photo.jpg": ({"photo.jpg": str(PHOTOS / "skier_785.jpg")}, []),  # the shipped model, torch-free
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
    "predict photo.jpg --weights": "needs a trained checkpoint; tests/cli/test_predict.py",
    "predict photo.jpg --onnx": "needs an exported model; tests/cli/test_predict.py",
    "pck": "scores 500 LSPet images (about a minute); tests/cli/test_cli_pck.py runs it on 20 and on tiny folders",
    "train configs/flpn_small_lspet_160x160.yaml": "trains for about 1.5 h; tests/engine/test_lspet_training.py "
    "runs a tiny LSPet training",
    "export": "needs a trained checkpoint; tests/export/test_onnx_export.py",
    "quantize": "needs an exported model and calibration images; tests/export/test_quantize.py",
    "ssim sweep": "trains one model per grid point; tests/analysis/test_ratio_sweep.py runs a one-step sweep",
    "import": "needs the shared weights folder; tests/cli/test_import_cli.py runs `edgepose import` on MoveNet",
    "coco": "needs an imported checkpoint (a 16 MB file); tests/cli/test_cli_coco.py runs it on the val mini set",
    "train configs/mobilenetv2_fpn_movenet_lspet_192x192.yaml": "trains for about 25 min after `edgepose import`; "
    "tests/engine/test_lspet_training.py runs a tiny LSPet training",
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


def _param_count(name: str, **overrides) -> int:
    """Parameters of a model counted by PyTorch itself: the reference for `complexity`'s own counter."""
    from edgepose.models import build_model

    return sum(p.numel() for p in build_model(name, **overrides).parameters())


def _check_values(run: list[str], out: str, tmp_path: Path) -> None:
    """What each command's output must say, beyond exiting 0: values checked against a reference where one
    exists (PyTorch's parameter count, the bundled photos, the arguments given)."""
    if run[0] == "demo":
        payload = json.loads((tmp_path / "output" / "demo" / "poses.json").read_text())
        photos = sorted(PHOTOS.glob("*.jpg"))
        assert [r["file"] for r in payload["images"]] == [p.name for p in photos]
        assert all(len(r["people"]) == 1 and len(r["people"][0]["keypoints"]) == len(payload["keypoint_names"])
                   for r in payload["images"]), "one person per photo, a row per keypoint name"  # fmt: skip
        for photo in photos:
            assert re.search(rf"{re.escape(photo.name)}\s+\d+x\d+\s+1 person", out), out
    elif run[0] == "predict":
        records = json.loads((tmp_path / "predictions" / "skier_785.json").read_text())
        meta = json.loads((tmp_path / "predictions" / "skier_785.meta.json").read_text())
        assert len(records) == 1 and len(records[0]["keypoints"]) == 3 * len(meta["keypoint_names"])
        assert (tmp_path / "predictions" / "skier_785.jpg").is_file() and "1 images, 1 person" in out
    elif run[0] == "models":
        from edgepose.models import list_models

        for name in list_models():
            assert re.search(rf"^{name}\s+(topdown|bottomup)", out, re.M), f"{name} missing from `edgepose models`"
    elif run[:2] == ["complexity", "flpn_sres50"] and "--json" in run:
        report = json.loads(out)
        assert report["model"] == "flpn_sres50" and report["params"] == _param_count("flpn_sres50")
        assert report["macs"] > 0.5e9 and sum(p["params"] for p in report["parts"].values()) <= report["params"]
    elif run[:2] == ["complexity", "flpn_sres50"]:
        millions = float(re.search(r"params\s+([\d.]+) M", out).group(1))
        assert millions == pytest.approx(_param_count("flpn_sres50", gc=False) / 1e6, abs=1e-4)
        assert millions < _param_count("flpn_sres50") / 1e6, "gc=false removes the GC blocks' parameters"
    elif run[:2] == ["bench", "latency"]:
        for name in ("flpn_sres50", "simplebaseline_r50", "lpn50"):
            assert re.search(rf"{name}.*?\d+\.\d+", out), f"no latency figure for {name}: {out}"
    elif run[:2] == ["bench", "decode"]:
        for people in ("1", "5", "10", "20"):
            assert re.search(rf"^\s*{people}\b.*\d+\.\d+", out, re.M), f"no decode time for {people} people: {out}"
    elif run[0] == "synth":
        splits = [json.loads(a.read_text()) for a in (tmp_path / run[1]).rglob("*.json")]  # train (+ val)
        assert sum(len(d["images"]) for d in splits) == int(run[run.index("--images") + 1])
        assert all(d["annotations"] for d in splits)
    elif run[0] == "ssim":
        assert re.search(r"\d\.\d", out), out
        plot = tmp_path / run[run.index("--plot") + 1]
        assert plot.is_file() and plot.stat().st_size > 1000


@pytest.mark.parametrize("argv", RUNNABLE, ids=[" ".join(c)[:60] for c in RUNNABLE])
def test_readme_command_runs(argv, tmp_path, monkeypatch, capsys):
    replace, extra = RUN[_key(argv, RUN)]
    run = [replace.get(a, a) for a in argv] + extra
    monkeypatch.chdir(tmp_path)
    rc = main(run)
    out, err = capsys.readouterr()
    assert rc == 0, f"`edgepose {' '.join(run)}` exited {rc}: {err[-2000:]}"
    assert out.strip(), "the command printed nothing"
    _check_values(run, out, tmp_path)


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


def test_readme_python_api_runs_and_gives_the_clis_keypoints(tmp_path, capsys):
    """The ```python block, exactly as written, on a bundled photo with the shipped model (what a fresh install
    has), then `edgepose predict` on the same photo: the same people, the same keypoints."""
    (block,) = [b for b in _blocks("python") if "PoseEstimator" in b]
    shutil.copy(PHOTOS / "skier_785.jpg", tmp_path / "photo.jpg")
    dump = "\nimport json\njson.dump([p.keypoints.tolist() for p in persons], open('api.json', 'w'))\n"
    proc = subprocess.run([sys.executable, "-c", block + dump], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    import cv2
    import numpy as np

    drawn, photo = cv2.imread(str(tmp_path / "poses.jpg")), cv2.imread(str(tmp_path / "photo.jpg"))
    assert drawn is not None and drawn.shape == photo.shape
    assert (cv2.absdiff(drawn, photo).max(axis=2) > 60).sum() > 100, "nothing was drawn on the photo"
    api = np.array(json.loads((tmp_path / "api.json").read_text()))
    # PoseEstimator() is the top-down model on the whole image: `predict --detector none` (the CLI's default adds
    # the shipped people detector's boxes, README "Python API")
    cli_json = str(tmp_path / "cli.json")
    assert main(["predict", str(tmp_path / "photo.jpg"), "--detector", "none", "--json", cli_json]) == 0
    capsys.readouterr()
    cli = np.array([r["keypoints"] for r in json.loads((tmp_path / "cli.json").read_text())]).reshape(api.shape)
    assert len(api) >= 1
    np.testing.assert_allclose(cli[..., :2], api[..., :2], atol=0.01)  # COCO results are rounded to 0.001
    np.testing.assert_allclose(cli[..., 2], api[..., 2], atol=0.001)
