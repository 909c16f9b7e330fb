"""The work behind ``edgepose ssim``: load MODEL, measure its channel-pair SSIM, recommend ratios, report them; and
the SSIM fine-tune step (measure a trained model, re-choose its ratios, write and train the fine-tune experiment).

:mod:`edgepose.cli.ssim` parses and checks the options (each error names its option) and calls these; the
measurement itself is :mod:`edgepose.analysis.ssim`. Results are plain dicts, printed as text
(:func:`format_analysis`) or JSON (:func:`to_json`), so a notebook gets the same figures as the command line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgepose.analysis import ssim as S
from edgepose.errors import EdgeposeError
from edgepose.io import atomic_write_text

__all__ = [
    "SsimRequest",
    "analyze",
    "format_analysis",
    "format_complexity",
    "format_finetune",
    "load_model",
    "load_weights",
    "prepare_finetune",
    "to_json",
    "train_finetune",
]

CHECKPOINT_SUFFIXES = (".pt", ".pth")


@dataclass(frozen=True)
class SsimRequest:
    """What to measure, as ``edgepose ssim MODEL ...`` takes it (the defaults are the command's).

    ``model`` is a model name, an experiment YAML (its model and overrides) or a checkpoint; ``overrides`` are
    ``--set`` items. Exactly one of ``images`` (a folder, each image resized whole) and ``data`` + ``image_root``
    (person-box crops of a COCO keypoint file) is given.
    """

    model: str
    overrides: Sequence[str] = ()
    weights: str | None = None
    images: str | None = None
    data: str | None = None
    image_root: str | None = None
    pairs: int = 1000
    per_module: bool = False
    max_images: int = 32
    input_size: Sequence[int] | None = None
    layers: str | None = None
    plot: str | None = None
    batch_size: int = 8
    bands: str = "0.25,0.5,0.75"
    ratio_set: str = "2,4,8,16"
    device: str = "cpu"
    seed: int = 0
    progress: bool = False


def load_model(spec: str, set_items: Sequence[str] = ()) -> tuple[Any, str, dict[str, Any], tuple[int, int] | None]:
    """(model, name, overrides, input size from a config) for ``spec`` = model name | experiment YAML | checkpoint.

    A checkpoint's model is rebuilt as saved, so ``set_items`` would silently describe another model: refused.
    """
    from edgepose.config import parse_overrides
    from edgepose.models import build_model

    overrides = parse_overrides(list(set_items))
    size = None
    if spec.endswith(CHECKPOINT_SUFFIXES):
        from edgepose.engine.checkpoint import build_model_from_checkpoint

        if overrides:
            raise EdgeposeError("--set does not apply to a checkpoint MODEL (its model is rebuilt as saved)")
        model, ckpt = build_model_from_checkpoint(spec)
        return model, str(ckpt.get("model_name") or "model"), dict(ckpt.get("model_overrides") or {}), None
    if spec.endswith((".yaml", ".yml")):
        from edgepose.engine.config import load_experiment

        cfg = load_experiment(spec)
        name = cfg.model.name
        merged = {**dict(cfg.model.overrides or {}), **overrides}
        data_size = (cfg.data or {}).get("input_size")
        size = (int(data_size[0]), int(data_size[1])) if data_size else None
        if size and "input_size" not in merged:
            merged["input_size"] = list(size)
        overrides = merged
    else:
        name = spec
    model = build_model(name, **overrides)
    return model, name, overrides, size


def load_weights(model: Any, path: str) -> None:
    """Load trained weights (a checkpoint with a ``model`` entry, or a bare state dict) into ``model``."""
    from edgepose.engine.checkpoint import load_checkpoint, load_model_state

    ckpt = load_checkpoint(path)
    state = ckpt["model"] if isinstance(ckpt, dict) and isinstance(ckpt.get("model"), dict) else ckpt
    load_model_state(model, state, path)


def _inputs(req: SsimRequest, size: tuple[int, ...]) -> tuple[Iterable[Any], int, str]:
    """(batches, number of inputs, where they came from in words) of ``req``'s images or person crops."""
    if req.images:
        files = S.list_images(req.images, req.max_images)
        return S.image_batches(files, size, req.batch_size), len(files), f"{len(files)} images from {req.images}"
    crops = S.person_crops(req.data, req.image_root, size, req.max_images, req.seed)
    if not crops:
        raise EdgeposeError("no person boxes with keypoints in the annotation file", req.data)
    return S.crop_batches(crops, size, req.batch_size), len(crops), f"{len(crops)} person crops from {req.data}"


def _recommend(result: dict[str, Any], stage_summaries: list[dict[str, Any]], size: Sequence[int]) -> None:
    """Add the recommended ratios (all stages; the paper's protocol, stages 2-3 at t=2) and their complexity."""
    target = S.target_model(result["model"])
    rec = S.recommendation(stage_summaries, target)
    rec_paper = S.recommendation(stage_summaries, target, fixed={2: 2, 3: 2})
    rec["complexity"] = S.recommended_complexity(target, rec["ratios"], size)
    rec_paper["complexity"] = (
        rec["complexity"]
        if rec_paper["ratios"] == rec["ratios"]
        else S.recommended_complexity(target, rec_paper["ratios"], size)
    )
    result["recommended"] = rec
    result["recommended_paper_protocol"] = rec_paper


def analyze(req: SsimRequest) -> dict[str, Any]:
    """The analysis of ``req.model`` on ``req``'s inputs: per-stage SSIM summaries and the recommended ratios
    (when the model has the four stages layer1..layer4), plus the plot's path when ``req.plot`` is set."""
    thresholds, ratio_set = S.parse_bands(req.bands, req.ratio_set)
    model, name, overrides, cfg_size = load_model(req.model, req.overrides)
    if req.weights:
        load_weights(model, req.weights)
    # what the printed title says the features come from: --weights, else a checkpoint MODEL's own weights
    weights_source = req.weights or (req.model if req.model.endswith(CHECKPOINT_SUFFIXES) else None)
    from edgepose.engine.predict import torch_device

    device = torch_device(req.device)
    model.to(device)
    size = tuple(req.input_size) if req.input_size else cfg_size or tuple(getattr(model, "input_size", (256, 192)))
    layer_names = [x for x in (req.layers or "").split(",") if x] or None
    stage_layers = S.resolve_layers(model, layer_names)
    layers = dict(stage_layers)
    if req.per_module:
        layers.update(S.resolve_layers(model, layer_names, per_module=True))
    batches, n_inputs, source = _inputs(req, size)
    stats = S.analyze_model(model, batches, layers, pairs=req.pairs or None, seed=req.seed, device=device,
                            progress=req.progress)  # fmt: skip
    summaries = S.summarize(stats, thresholds, ratio_set)
    stage_summaries = [s for s in summaries if s["name"] in stage_layers]
    result: dict[str, Any] = {
        "model": name, "overrides": overrides, "weights": weights_source, "input_size": list(size), "source": source,
        "inputs": n_inputs, "pairs_per_image": req.pairs or "all", "seed": req.seed,
        "bands": {"thresholds": list(thresholds), "ratios": list(ratio_set),
                  "note": "ours: the FLPN paper gives no thresholds"},
        "stages": stage_summaries, "modules": [s for s in summaries if s["name"] not in stage_layers],
    }  # fmt: skip
    if len(stage_summaries) == 4:
        _recommend(result, stage_summaries, size)
    if req.plot:
        from edgepose.vis.ssim_plots import plot_stage_distributions

        plotted = plot_stage_distributions([(s.name, s.all_values) for s in stats], req.plot,
                                           thresholds=thresholds, ratios=ratio_set,
                                           title=f"channel-pair SSIM: {name} ({source})")  # fmt: skip
        result["plot"] = str(plotted) if plotted else None
    return result


def _json_default(value: Any) -> Any:
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)


def to_json(result: dict[str, Any], indent: int | None = None) -> str:
    """``result`` as JSON: tuples and sets as lists, anything else not JSON-native (paths) as its string."""
    return json.dumps(result, indent=indent, default=_json_default)


def format_complexity(c: dict[str, Any]) -> str:
    """``"1.23M params, 0.456G MACs at 256x192"``, or the note saying why it could not be counted."""
    if "params" not in c:
        return c.get("note", "complexity not available")
    return f"{c['params'] / 1e6:.2f}M params, {c['macs'] / 1e9:.3f}G MACs at {c['input_size'][0]}x{c['input_size'][1]}"


def format_analysis(result: dict[str, Any]) -> str:
    """The text report of :func:`analyze`: a table of stages (then modules), the bands and the recommendations."""
    weights = f"weights {result['weights']}" if result["weights"] else "random init"
    lines = [
        f"SSIM redundancy of {result['model']} ({weights}), input {result['input_size'][0]}x"
        f"{result['input_size'][1]}, {result['source']}, {result['pairs_per_image']} pairs/image",
        "",
        f"{'stage':<14} {'C x H x W':>16} {'win':>4} {'pairs':>8} {'mean':>7} {'median':>7} {'std':>6} "
        f"{'const':>6} {'t':>3}",
    ]
    for s in [*result["stages"], *result["modules"]]:
        c, h, w = s["shape"]
        lines.append(
            f"{s['name']:<14} {f'{c} x {h} x {w}':>16} {s['window']:>4} {s['pairs']:>8} {s['mean']:>7.3f} "
            f"{s['median']:>7.3f} {s['std']:>6.3f} {s['constant_channel_fraction']:>6.1%} "
            f"{s['recommended_ratio'] if s['recommended_ratio'] is not None else '-':>3}"
        )
        if s["name"] == result["stages"][-1]["name"] and result["modules"]:
            lines.append("")
    b = result["bands"]
    bands = ", ".join([f"< {t:g} -> {r}" for t, r in zip(b["thresholds"], b["ratios"])] + [f"else {b['ratios'][-1]}"])
    lines += ["", f"bands (mean SSIM -> t): {bands}  ({b['note']}; --bands/--ratio-set change them)"]
    for key, label in (
        ("recommended", "all stages"),
        ("recommended_paper_protocol", "paper protocol: stages 2-3 fixed at t=2"),
    ):
        rec = result.get(key)
        if rec:
            lines += [
                "",
                f"recommended ({label}): ratios {rec['ratios']} -> {format_complexity(rec['complexity'])}",
                f"  YAML:  {rec['yaml']}",
                f"  CLI:   {rec['set']}   (edgepose train CONFIG {rec['set']})",
            ]
    if result.get("plot"):
        lines += ["", f"plot: {result['plot']}"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- finetune
def prepare_finetune(config: str | Path, weights: str, req: SsimRequest, set_items: Sequence[str],
                     out: Path) -> dict[str, Any]:  # fmt: skip
    """Measure the model trained to ``weights`` with ``req``'s inputs and bands, re-choose its ratios (the paper's
    protocol: stages 2-3 stay at t=2) and write ``out/finetune.yaml`` (CONFIG with the new ratios, started from
    ``weights``, ``set_items`` written in) and ``out/ssim_finetune.json`` (what was measured and chosen).

    Only the four stages are measured (no per-module figures, no layer choice, no plot), on the checkpoint's model
    as saved: the ``--set`` items are the fine-tune run's, not the measured model's.
    """
    from edgepose.analysis.ssim import finetune_experiment
    from edgepose.config import save_yaml
    from edgepose.engine.config import load_experiment

    base = load_experiment(config, list(set_items))  # fails early on a bad CONFIG or --set
    measured = analyze(replace(req, model=weights, weights=None, overrides=(), per_module=False, layers=None,
                               plot=None))  # fmt: skip
    rec = measured.get("recommended_paper_protocol")
    if rec is None:
        raise EdgeposeError(f"{measured['model']} has no four stages (layer1..layer4) to re-choose ratios for",
                            weights)  # fmt: skip
    before = list((base.model.overrides or {}).get("ratios") or [])
    experiment = finetune_experiment(config, weights, rec["model"], rec["ratios"], set_items)
    out.mkdir(parents=True, exist_ok=True)
    save_yaml(experiment, out / "finetune.yaml")
    summary = {"config": str(config), "weights": str(weights), "stages": measured["stages"],
               "ratios_before": before or "model default", "ratios_after": rec["ratios"],
               "complexity_after": rec["complexity"], "finetune_config": str(out / "finetune.yaml")}  # fmt: skip
    atomic_write_text(out / "ssim_finetune.json", to_json(summary, indent=1) + "\n")
    return summary


def format_finetune(summary: dict[str, Any]) -> str:
    """One line: the measured stage means, the chosen ratios and their complexity, the file written."""
    means = [round(s["mean"], 3) for s in summary["stages"]]
    return (f"SSIM of {summary['weights']}: stage means {means} -> ratios {summary['ratios_after']} "
            f"({format_complexity(summary['complexity_after'])}); wrote {summary['finetune_config']}")  # fmt: skip


def train_finetune(summary: dict[str, Any], run_dir: Path, progress: bool = True) -> dict[str, float]:
    """Train the fine-tune experiment :func:`prepare_finetune` wrote, into ``run_dir``; its final metrics."""
    from edgepose.engine.config import load_experiment
    from edgepose.engine.trainer import train_experiment

    return train_experiment(load_experiment(Path(summary["finetune_config"])), out_dir=run_dir, progress=progress)
