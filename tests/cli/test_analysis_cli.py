"""``complexity``, ``ssim`` and ``bench``: bad numbers and bad output places end in one line (issue 11 item 4/5),
and ``ssim`` says where its weights came from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgepose.cli.main import main

REPO_ROOT = Path(__file__).resolve().parents[2]
PHOTOS = REPO_ROOT / "edgepose" / "assets" / "photos"
SWEEP_CONFIG = REPO_ROOT / "configs" / "ssim_sweep_synthetic.yaml"
TINY = ["blocks=[1,1,1,1]", "width=0.25", "deconv_channels=32"]


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.mark.parametrize(
    "argv",
    [
        ["complexity", "flpn_sres50", "--input-size", "0", "0"],
        ["complexity", "flpn_sres50", "--input-size", "16", "192"],
        ["ssim", "flpn_sres50", "--images", str(PHOTOS), "--input-size", "0", "0"],
        ["bench", "profile", "flpn_sres50", "--input-size", "0", "64"],
        ["bench", "latency", "flpn_sres50", "--input-size", "-1", "64"],
    ],
    ids=["complexity-0", "complexity-16", "ssim-0", "bench-profile-0", "bench-latency-neg"],
)
def test_input_size_below_the_network_stride_is_one_line(argv, capsys):
    assert main(argv) == 2
    _one_line_error(capsys, "--input-size", ">= 32")


def test_ssim_plot_that_is_a_folder_is_one_line(tmp_path, capsys):
    argv = ["ssim", "flpn_sres50", "--images", str(PHOTOS), "--plot", str(tmp_path), "--set", *TINY]
    assert main(argv) == 2
    _one_line_error(capsys, "--plot", str(tmp_path))


def test_ssim_sweep_out_that_is_a_file_is_one_line(tmp_path, capsys):
    existing = tmp_path / "sweep.txt"
    existing.write_text("keep me")
    assert main(["ssim", "sweep", str(SWEEP_CONFIG), "--out", str(existing), "--grid", "2,8"]) == 2
    _one_line_error(capsys, "--out", str(existing))
    assert existing.read_text() == "keep me"


def test_ssim_sweep_without_data_says_to_use_synth(tmp_path, capsys):
    nowhere = tmp_path / "none"
    sets = [f"data.train_ann={nowhere}/t.json", f"data.train_images={nowhere}/img",
            f"data.val_ann={nowhere}/v.json", f"data.val_images={nowhere}/img"]  # fmt: skip
    argv = ["ssim", "sweep", str(SWEEP_CONFIG), "--grid", "2,8", "--out", str(tmp_path / "sweep"), "--set", *sets]
    assert main(argv) == 2
    _one_line_error(capsys, "4 data path(s) not found", "--synth DIR")
    assert not (tmp_path / "sweep").exists()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    import torch

    from edgepose.config import parse_overrides
    from edgepose.engine.checkpoint import save_checkpoint
    from edgepose.models import build_model, checkpoint_fields

    overrides = parse_overrides(TINY)
    torch.manual_seed(0)
    model = build_model("flpn_sres50", **overrides)
    path = tmp_path_factory.mktemp("ssim_ckpt") / "tiny.pt"
    save_checkpoint(path, checkpoint_fields(model))
    return path


def test_ssim_names_a_checkpoints_weights_not_random_init(tiny_checkpoint, capsys):
    common = ["--images", str(PHOTOS), "--max-images", "1", "--pairs", "20", "--input-size", "64", "64"]
    assert main(["ssim", str(tiny_checkpoint), *common, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["weights"] == str(tiny_checkpoint)
    assert main(["ssim", str(tiny_checkpoint), *common]) == 0
    title = capsys.readouterr().out.splitlines()[0]
    assert f"weights {tiny_checkpoint}" in title and "random init" not in title


def test_ssim_model_name_is_labelled_random_init(capsys):
    argv = ["ssim", "flpn_sres50", "--images", str(PHOTOS), "--max-images", "1", "--pairs", "20",
            "--input-size", "64", "64", "--set", *TINY]  # fmt: skip
    assert main(argv) == 0
    assert "random init" in capsys.readouterr().out.splitlines()[0]
