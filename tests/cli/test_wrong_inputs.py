"""Issue 20's bad inputs, each a one-line error that names the file or option, and nothing overwritten.

Paths of the wrong kind are said as what they are (never "not found"); NaN weights are refused where they are
loaded; an empty config names its file; duplicate annotation ids are refused (COCOeval would score -1 silently);
a fresh ``train`` never writes over a run; ``--resume`` never writes over a damaged checkpoint; ``quantize``
never replaces its input; a failed write to stdout is an error, not a silent exit 0.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from edgepose.cli.main import main
from edgepose.config import read_yaml
from edgepose.errors import CheckpointError, ConfigError, DataError, EdgeposeError
from edgepose.pathkind import path_kind, require_dir, require_file


@pytest.fixture
def odd_paths(tmp_path: Path) -> dict[str, Path]:
    paths = {"file": tmp_path / "f.txt", "folder": tmp_path / "d", "fifo": tmp_path / "pipe",
             "zero": tmp_path / "zero", "broken": tmp_path / "broken", "missing": tmp_path / "nope"}  # fmt: skip
    paths["file"].write_text("x")
    paths["folder"].mkdir()
    os.mkfifo(paths["fifo"])
    paths["zero"].symlink_to("/dev/zero")
    paths["broken"].symlink_to(tmp_path / "gone")
    return paths


def test_path_kind_says_what_is_there(odd_paths):
    assert path_kind(odd_paths["file"]) == "a file" and path_kind(odd_paths["folder"]) == "a folder"
    assert path_kind(odd_paths["fifo"]) == "a named pipe"
    assert path_kind(odd_paths["zero"]) == "a link to /dev/zero (a character device)"
    assert path_kind(odd_paths["broken"]) == "a broken link" and path_kind(odd_paths["missing"]) is None
    with pytest.raises(DataError, match=r"pipe: --calib must be a file, but this is a named pipe"):
        require_file(odd_paths["fifo"], "--calib")
    with pytest.raises(DataError, match="--root must be a folder, but this is a file"):
        require_dir(odd_paths["file"], "--root")
    with pytest.raises(DataError, match="nope: --ann not found"):
        require_file(odd_paths["missing"], "--ann")


def test_configs_of_the_wrong_kind_or_empty_name_the_file(odd_paths, tmp_path):
    with pytest.raises(ConfigError, match=r"d: config file must be a file, but this is a folder"):
        read_yaml(odd_paths["folder"])
    with pytest.raises(ConfigError, match="this is a named pipe"):  # said without opening it (would block)
        read_yaml(odd_paths["fifo"])
    empty = tmp_path / "empty.yaml"
    empty.write_text("# only a comment\n")
    with pytest.raises(ConfigError, match=r"empty.yaml: the config file is empty"):
        read_yaml(empty)
    assert read_yaml(empty, allow_empty=True) == {}


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_train_and_pretrain_of_an_empty_config(command, tmp_path, capsys):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert main([command, str(empty)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"edgepose {command}: error: {empty}: the config file is empty (no keys: nothing to run)"]


def test_lsp_and_json_files_of_the_wrong_kind(odd_paths, tmp_path):
    from edgepose.data.coco import read_json
    from edgepose.data.lspet import read_joints_mat, resolve_lsp_root

    with pytest.raises(DataError, match="JSON file must be a file, but this is a folder"):
        read_json(odd_paths["folder"])
    with pytest.raises(DataError, match="LSP folder must be a folder, but this is a file"):
        resolve_lsp_root(odd_paths["file"])
    (tmp_path / "lsp" / "joints.mat").mkdir(parents=True)
    with pytest.raises(DataError, match="joints.mat must be a MATLAB file, but this is a folder"):
        read_joints_mat(tmp_path / "lsp" / "joints.mat")
    (tmp_path / "lsp" / "images").mkdir()
    with pytest.raises(DataError, match="joints.mat: joints.mat must be a MATLAB file, but this is a folder"):
        resolve_lsp_root(tmp_path / "lsp")  # what `pck --root` meets


def test_calibration_sources_of_the_wrong_kind(odd_paths):
    from edgepose.export.quantize import calibration_images

    with pytest.raises(DataError, match="but this is a named pipe"):
        calibration_images([odd_paths["fifo"]])
    with pytest.raises(DataError, match=r"a link to /dev/zero \(a character device\)"):
        calibration_images([odd_paths["zero"]])


def test_quantize_refuses_to_write_over_its_input(tmp_path):
    from edgepose.export.quantize import quantize_onnx

    model = tmp_path / "m.onnx"
    model.write_bytes(b"fp32 model bytes")
    with pytest.raises(EdgeposeError, match="would replace the fp32 model"):
        quantize_onnx(model, tmp_path / "." / "m.onnx", [tmp_path])
    assert model.read_bytes() == b"fp32 model bytes"


def test_non_finite_weights_are_refused_where_they_are_loaded():
    from edgepose.engine.checkpoint import load_model_state

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["1.running_var"][2] = float("inf")
    with pytest.raises(CheckpointError, match=r"w.pt: .*weights are not finite.*1.running_var"):
        load_model_state(net, state, "w.pt")
    state["1.running_var"][2] = 1.0
    load_model_state(net, state, "w.pt")  # finite: loads


def test_duplicate_annotation_ids_are_refused(tmp_path, capsys):
    kp = [v for j in range(17) for v in (12 + 2 * j, 12 + 3 * j, 2)]
    ann = {"id": 5, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [10, 10, 40, 70], "area": 2800,
           "num_keypoints": 17, "keypoints": kp}  # fmt: skip
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 80, "height": 96}],
          "annotations": [ann, dict(ann, bbox=[0, 0, 20, 20])],
          "categories": [{"id": 1, "name": "person"}]}  # fmt: skip
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps([{"image_id": 1, "category_id": 1, "keypoints": kp, "score": 1}]))
    argv = ["evaluate-results", "--ann", str(tmp_path / "gt.json"), "--results", str(tmp_path / "res.json")]
    assert main(argv) == 2
    assert "annotations[1]: duplicate annotation id 5 (also annotations[0])" in capsys.readouterr().err
    gt["annotations"][1]["id"] = 6  # unique ids: scored; the exact copy is a perfect match, the other a miss
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    assert main([*argv, "--json"]) == 0


def test_export_refuses_an_input_too_small_to_run(capsys):
    assert main(["export", "flpn_sres50", "--out", "/tmp/never.onnx", "--input-size", "4", "4"]) == 2
    assert "--input-size must be at least 32 x 32, got 4 4" in capsys.readouterr().err
    assert not Path("/tmp/never.onnx").exists()


def test_a_plain_train_never_writes_over_a_run(tmp_path, capsys):
    for name in ("a.json", "images"):
        (tmp_path / name).mkdir() if name == "images" else (tmp_path / name).write_text("{}")
    cfg = {"task": "topdown", "model": {"name": "flpn_sres50"},
           "data": {"dataset": "coco", "train_ann": "a.json", "train_images": "images", "val_ann": "a.json",
                    "val_images": "images", "input_size": [256, 192]}}  # fmt: skip
    (tmp_path / "c.yaml").write_text(json.dumps(cfg))
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"hours of training")
    assert main(["train", str(tmp_path / "c.yaml"), "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "--out already holds a run (best.pt); continue it with --resume" in err and len(err.splitlines()) == 1
    assert (run / "best.pt").read_bytes() == b"hours of training" and sorted(p.name for p in run.iterdir()) == [
        "best.pt"]


def test_resume_keeps_a_damaged_checkpoint_aside(tmp_path, monkeypatch):
    from edgepose.engine import resume

    (tmp_path / "last.pt").write_bytes(b"damaged")
    (tmp_path / "best.pt").write_bytes(b"good")
    note = f"{tmp_path / 'last.pt'}: corrupt or unreadable checkpoint"
    monkeypatch.setattr(resume, "find_resume_checkpoint", lambda out: (out / "best.pt", {"epoch": 1}, [note]))
    resume.resolve_resume(True, tmp_path, verbose=False)  # another rank: touches nothing
    assert (tmp_path / "last.pt").read_bytes() == b"damaged"
    path, _ = resume.resolve_resume(True, tmp_path)
    assert path == tmp_path / "best.pt" and not (tmp_path / "last.pt").exists()
    assert (tmp_path / "last.pt.damaged").read_bytes() == b"damaged"


def test_pretrain_validation_classes_must_be_training_classes(tmp_path):
    from edgepose.cli.pretrain import check_same_classes

    for split, names in (("train", "ab"), ("val", "ac")):
        for name in names:
            (tmp_path / split / name).mkdir(parents=True)
    cfg = SimpleNamespace(data={"train_dir": str(tmp_path / "train"), "val_dir": str(tmp_path / "val")})
    with pytest.raises(ConfigError, match="only in validation: c; only in training: b"):
        check_same_classes(cfg)
    (tmp_path / "val" / "c").rmdir()
    check_same_classes(cfg)  # a validation split lacking a class is still labelled right


def test_ssim_device_and_layers_errors(monkeypatch):
    from edgepose.analysis.ssim import resolve_layers
    from edgepose.engine.predict import torch_device as _torch_device  # what `ssim --device` uses

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EdgeposeError, match="--device cuda: PyTorch sees no CUDA GPU here; use --device cpu"):
        _torch_device("cuda")
    with pytest.raises(EdgeposeError, match="not a PyTorch device"):
        _torch_device("gpu0")
    net = torch.nn.Sequential()
    net.add_module("layer1", torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1)))
    with pytest.raises(ConfigError, match=r"--layers: the model has no module 'layer9'; modules include layer1"):
        resolve_layers(net, ["layer9"])


class _FullStdout:
    """A stdout whose writes fail like a full disk (``> /dev/full``)."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        pass


def test_a_failed_write_to_stdout_is_a_one_line_error(monkeypatch, capsys):
    from edgepose.cli import models

    monkeypatch.setattr(models, "list_models", lambda: ["flpn_sres50"], raising=False)
    monkeypatch.setattr("edgepose.models.list_models", lambda: ["flpn_sres50"])  # one model: fast
    monkeypatch.setattr("sys.stdout", _FullStdout())
    assert main(["models", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["edgepose models: error: cannot write the output to stdout (No space left on device)"]
