"""`edgepose ssim finetune`: FLPN's "SSIM to fine tune the proposed network" (issue 14, item 4). A trained model is
measured, stages 0-1 get new ratios (2-3 stay at t=2), the rebuilt model starts from every tensor that still fits
and trains further."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from edgepose.cli.main import main
from edgepose.config import save_yaml
from edgepose.engine.checkpoint import load_checkpoint, save_checkpoint
from edgepose.engine.config import experiment_to_dict, load_experiment
from edgepose.engine.trainer import build_state
from edgepose.models import build_model, checkpoint_fields


@pytest.fixture
def trained(tmp_path, make_lsp_subset, tiny_lsp_experiment):
    """(pose config YAML, checkpoint of its model, image folder): a tiny FLPN on 8 real LSPet images."""
    lsp = make_lsp_subset(tmp_path / "lsp", 8)
    cfg = tiny_lsp_experiment(lsp, [6, 8])
    cfg.train.epochs, cfg.train.max_steps_per_epoch = 1, 1
    config = tmp_path / "pose.yaml"
    save_yaml(experiment_to_dict(cfg), config)
    model = build_model(cfg.model.name, keypoints="lsp", **cfg.model.overrides)  # ratios (2, 8, 2, 2), the default
    ckpt = tmp_path / "trained.pt"
    save_checkpoint(ckpt, checkpoint_fields(model))
    return config, ckpt, lsp / "images"


def test_finetune_rechooses_ratios_and_starts_from_the_trained_weights(trained, tmp_path, capsys):
    config, ckpt, images = trained
    out = tmp_path / "ft"
    # every band says t=4: stages 0-1 become 4, stages 2-3 keep the paper's t=2
    code = main(["ssim", "finetune", str(config), "--weights", str(ckpt), "--images", str(images), "--max-images",
                 "2", "--pairs", "20", "--input-size", "64", "64", "--ratio-set", "4,4,4,4", "--out", str(out),
                 "--quiet", "--set", "train.log_every=1"])  # fmt: skip
    assert code == 0
    said = "".join(capsys.readouterr())  # the trainer's lines go to stderr
    written = yaml.safe_load((out / "finetune.yaml").read_text())
    assert written["model"]["overrides"]["ratios"] == [4, 4, 2, 2]
    assert written["model"]["pretrained"] == str(ckpt.resolve()) and written["train"] == {"log_every": 1}
    summary = json.loads((out / "ssim_finetune.json").read_text())  # what was measured and chosen, beside it
    assert summary["ratios_after"] == [4, 4, 2, 2] and summary["finetune_config"] == str(out / "finetune.yaml")
    assert len(summary["stages"]) == 4 and summary["weights"] == str(ckpt)
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # written whole (edgepose.io)
    assert "fine-tuned:" in said  # what it started from is checked on the weights below
    run = load_checkpoint(out / "run" / "last.pt")
    assert run["model_overrides"]["ratios"] == [4, 4, 2, 2] and run["model_overrides"]["width"] == 0.25
    assert run["step"] == 1

    # what the fine-tune started from: stages 2-3 (same shapes) copied, stages 0-1 rebuilt
    state = build_state(load_experiment(out / "finetune.yaml"), tmp_path / "check")
    own, old = state.model.state_dict(), load_checkpoint(ckpt)["model"]
    assert all(torch.equal(own[k], old[k]) for k in own if k.startswith(("layer3.", "layer4.", "stem.")))
    assert any(k in old and own[k].shape != old[k].shape for k in own if k.startswith("layer1."))


def test_finetune_needs_its_config_and_weights(trained, capsys):
    config, _, images = trained
    assert main(["ssim", "finetune", str(config), "--images", str(images)]) == 2
    assert "--weights CKPT" in capsys.readouterr().err
    assert main(["ssim", "flpn_sres50", "--images", str(images), "--no-train"]) == 2
    assert "finetune option" in capsys.readouterr().err


def test_the_package_call_has_the_commands_defaults():
    """`edgepose ssim MODEL` and `SsimRequest(model)` measure the same thing when nothing else is said: every default
    the parser gives equals the request's (an option at its default counts as not given, so they must agree)."""
    import argparse
    from dataclasses import fields

    from edgepose.analysis.ssim_report import SsimRequest
    from edgepose.cli import ssim as ssim_cli

    parser = argparse.ArgumentParser()
    ssim_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["ssim", "flpn_sres50"])
    request = {f.name: f.default for f in fields(SsimRequest)}
    shared = [name for name in ssim_cli._DEFAULTS if name in request]
    assert len(shared) >= 6
    for name in shared:
        assert getattr(args, name) == ssim_cli._DEFAULTS[name] == request[name], name
