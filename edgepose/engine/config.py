"""Experiment configs: one YAML file per experiment, validated into :class:`ExperimentConfig`.

An experiment file names the task (``topdown`` or ``bottomup``), the model and its keyword overrides, the
data and evaluation sections (validated by the task, which owns their keys), and the training recipe
(:class:`TrainConfig`, validated here). Unknown keys are rejected with their dotted name.

Two conveniences keep ablation configs short:

* ``base: other.yaml`` inherits another file (resolved relative to the file that names it); the child's
  mappings are merged key by key into the base's, lists and scalars replace. Chains of bases work.
* ``--set`` overrides use the same dotted keys (``train.lr=1e-4``, ``data.input_size=[128,96]``); a bare key
  that is not a top-level section (``--set gc=false``) is a model override (``model.overrides.gc``), so the
  model's keyword arguments read the same on the command line as in ``model.overrides``.

Relative paths in ``data`` (and ``eval``) are resolved against the directory of the config file that was
loaded: tasks call :func:`resolve_path` (which also expands ``~`` and ``$VARS`` such as ``$EDGEPOSE_DATA``, with
shell-style defaults: ``${EDGEPOSE_DATA:-../../shared/data}/lspet/joints.mat``, the convention of ``configs/``).
The directory is recorded in ``config_dir`` so the resolved ``config.yaml`` written into the output folder
still resolves to the same files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgepose.config import apply_overrides, expand_path, from_dict, parse_overrides, read_yaml, to_dict
from edgepose.errors import ConfigError

OPTIMIZERS = ("adam", "adamw", "sgd")
LR_SCHEDULES = ("step", "cosine")


@dataclass
class ModelConfig:
    """A model of :data:`edgepose.models.MODEL_TABLE` and the keyword overrides of its constructor."""

    name: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    # Initial weights: an edgepose checkpoint or weights file (relative paths resolve against the config's folder).
    # Tensors whose name and shape match are copied, so a backbone pre-trained on another task (``edgepose
    # pretrain``) or a model trained on another keypoint set starts a run; nothing matching is an error.
    pretrained: str | None = None


@dataclass
class TrainConfig:
    """The optimisation recipe. Defaults are the FLPN / SimpleBaseline recipe (SPEC A.1.10)."""

    epochs: int = 140
    batch_size: int = 32  # per process (per GPU), as in SimpleBaseline / HRNet
    optimizer: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    lr_milestones: list[int] = field(default_factory=lambda: [90, 120])  # epochs where lr *= lr_gamma
    lr_schedule: str = "step"  # step: x lr_gamma at each of lr_milestones | cosine: per epoch from lr towards 0
    lr_gamma: float = 0.1
    warmup_steps: int = 0  # linear warm-up over the first N optimiser steps
    workers: int = 4  # DataLoader worker processes per rank
    seed: int = 0
    amp: bool = True  # mixed precision (CUDA only; ignored on CPU)
    amp_dtype: str = "float16"  # float16 (with GradScaler) | bfloat16 (autocast on CUDA, and on CPU when amp is set)
    compile: bool = False  # torch.compile the training forward (docs/gpu.md); a compile failure stops with one line
    grad_clip: float | None = None  # max gradient norm
    max_steps_per_epoch: int | None = None  # cut epochs short (smoke runs)
    eval_every: int = 1  # evaluate every N epochs (and always after the last); 0 = only after the last
    log_every: int = 20  # write a per-step CSV row every N steps
    deterministic: bool = False  # torch.use_deterministic_algorithms, no cudnn.benchmark
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    save_every: int = 1  # write last.pt every N epochs (and always after the last)
    channels_last: bool = False  # NHWC memory format for the model and 4-D batch tensors (faster on CPU/oneDNN, AMP)
    # Wall-clock budget of one `edgepose train` invocation, in minutes (None: no limit). The run stops at the end of
    # the step that crosses it, then evaluates and writes its checkpoints and plots as after a last epoch, so the
    # result is valid and `--resume` continues from there (with a fresh budget).
    max_minutes: float | None = None
    # Knowledge distillation (top-down only, engine/distill.py): an edgepose checkpoint of the same keypoints, input
    # size and normalisation; targets = (1 - distill_weight) * ground truth + distill_weight * teacher heatmaps.
    teacher: str | None = None
    distill_weight: float = 0.5


@dataclass
class ExperimentConfig:
    """One experiment: what to train, on what, how, and where the results go."""

    name: str = ""
    task: str = "topdown"  # a name of edgepose.engine.task.TASK_TABLE: topdown | bottomup | classification
    model: ModelConfig = field(default_factory=ModelConfig)
    data: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: dict[str, Any] = field(default_factory=dict)
    output_dir: str | None = None
    config_dir: str | None = None  # where relative data paths resolve; set by load_experiment

    def __post_init__(self) -> None:
        # Allow plain mappings for the typed sections when built in Python (ExperimentConfig(model={...})).
        if isinstance(self.model, Mapping):
            self.model = from_dict(ModelConfig, self.model, prefix="model.")
        if isinstance(self.train, Mapping):
            self.train = from_dict(TrainConfig, self.train, prefix="train.")
        validate_experiment(self)

    @property
    def dataset_name(self) -> str:
        """The data section's dataset name (``data.dataset``, else ``data.name``), ``"custom"`` if unnamed."""
        for key in ("dataset", "name", "type"):
            value = self.data.get(key)
            if isinstance(value, str) and value:
                return value
        return "custom"


def validate_experiment(cfg: ExperimentConfig) -> None:
    """Check the engine-level values (the task checks data/eval); raise ConfigError naming the key."""
    from edgepose.engine.task import TASK_TABLE, task_target

    if task_target(cfg.task) is None:
        raise ConfigError(f"config key 'task': {cfg.task!r} is not one of {', '.join(TASK_TABLE)}")
    t = cfg.train
    if t.optimizer not in OPTIMIZERS:
        raise ConfigError(f"config key 'train.optimizer': {t.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    checks = [
        ("epochs", t.epochs >= 1, "must be >= 1"),
        ("batch_size", t.batch_size >= 1, "must be >= 1"),
        ("lr", t.lr > 0, "must be > 0"),
        ("weight_decay", t.weight_decay >= 0, "must be >= 0"),
        ("lr_gamma", t.lr_gamma > 0, "must be > 0"),
        ("warmup_steps", t.warmup_steps >= 0, "must be >= 0"),
        ("workers", t.workers >= 0, "must be >= 0"),
        ("eval_every", t.eval_every >= 0, "must be >= 0"),
        ("log_every", t.log_every >= 1, "must be >= 1"),
        ("save_every", t.save_every >= 1, "must be >= 1"),
        ("grad_clip", t.grad_clip is None or t.grad_clip > 0, "must be > 0 or null"),
        ("max_steps_per_epoch", t.max_steps_per_epoch is None or t.max_steps_per_epoch >= 1, "must be >= 1 or null"),
        ("max_minutes", t.max_minutes is None or t.max_minutes > 0, "must be > 0 or null"),
        ("lr_milestones", list(t.lr_milestones) == sorted(t.lr_milestones), "must be increasing"),
        ("lr_schedule", t.lr_schedule in LR_SCHEDULES, f"is not one of {', '.join(LR_SCHEDULES)}"),
        ("amp_dtype", t.amp_dtype in ("float16", "bfloat16"), "is not one of float16, bfloat16"),
        ("distill_weight", 0 <= t.distill_weight <= 1, "must be in [0, 1]"),
        ("teacher", t.teacher is None or (isinstance(t.teacher, str) and t.teacher and cfg.task == "topdown"),
         "must be a checkpoint path or null, and only the topdown task distils"),
    ]
    for key, ok, why in checks:
        if not ok:
            raise ConfigError(f"config key 'train.{key}': {getattr(t, key)!r} {why}")
    if not (t.device in ("auto", "cpu", "cuda") or t.device.startswith("cuda:")):
        raise ConfigError(f"config key 'train.device': {t.device!r} is not auto, cpu, cuda or cuda:N")
    if not isinstance(cfg.model.overrides, dict):
        raise ConfigError("config key 'model.overrides' must be a mapping")
    if cfg.model.pretrained is not None and not (isinstance(cfg.model.pretrained, str) and cfg.model.pretrained):
        raise ConfigError(f"config key 'model.pretrained': {cfg.model.pretrained!r} must be a file path or null")


# ------------------------------------------------------------------------------------------- loading
def deep_merge(base: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """``child`` merged into ``base``: mappings merge recursively, everything else replaces."""
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def read_experiment_dict(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The raw mapping of an experiment file with its ``base:`` chain merged in (cycles rejected)."""
    path = Path(path).resolve()
    if path in _seen:
        chain = " -> ".join(p.name for p in (*_seen, path))
        raise ConfigError(f"'base' chain loops: {chain}", path)
    data = read_yaml(path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"config key 'base' must be a file name, got {base!r}", path)
    base_path = Path(expand_path(base))
    if not base_path.is_absolute():
        base_path = path.parent / base_path
    if not base_path.is_file():
        raise ConfigError(f"base config {base!r} not found (looked for {base_path})", path)
    return deep_merge(read_experiment_dict(base_path, (*_seen, path)), data)


def normalize_overrides(overrides: Mapping[str, Any] | Iterable[str] | None) -> dict[str, Any]:
    """``--set`` items as ``{dotted key: value}``; bare keys that are not top-level sections become model
    overrides (``gc=false`` -> ``model.overrides.gc``)."""
    if overrides is None:
        return {}
    items = dict(overrides) if isinstance(overrides, Mapping) else parse_overrides(overrides)
    top = set(ExperimentConfig.__dataclass_fields__)
    out: dict[str, Any] = {}
    for key, value in items.items():
        if "." not in key and key not in top:
            key = f"model.overrides.{key}"
        out[key] = value
    return out


def experiment_from_dict(data: Mapping[str, Any], overrides: Any = None) -> ExperimentConfig:
    """Build (and validate) an ExperimentConfig from a mapping plus ``--set`` style overrides."""
    cfg = from_dict(ExperimentConfig, dict(data))
    return apply_overrides(cfg, normalize_overrides(overrides))


def load_experiment(path: str | Path, overrides: Mapping[str, Any] | Iterable[str] | None = None) -> ExperimentConfig:
    """Load an experiment YAML (following ``base:``), apply overrides, and validate.

    ``name`` defaults to the file's stem and ``config_dir`` to its directory (unless the file sets it, as the
    ``config.yaml`` saved in an output folder does). Errors name the file and the offending key.
    """
    path = Path(path)
    data = read_experiment_dict(path)
    data.setdefault("name", path.stem)
    data.setdefault("config_dir", str(path.resolve().parent))
    try:
        return experiment_from_dict(data, overrides)
    except ConfigError as exc:
        if exc.path:  # already names a file
            raise
        raise ConfigError(str(exc), path) from None


def experiment_to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """The resolved config as a plain YAML-safe dict (what ``config.yaml`` holds)."""
    return to_dict(cfg)


def resolve_path(cfg: ExperimentConfig | str | Path | None, value: str | Path) -> Path:
    """Resolve a path from a config: ``~`` and ``$VARS`` expanded; relative paths against ``cfg.config_dir``
    (the loaded file's directory), or the current directory when the config did not come from a file.

    ``cfg`` may also be the base directory itself.
    """
    p = Path(expand_path(value))
    if p.is_absolute():
        return p
    base = cfg.config_dir if isinstance(cfg, ExperimentConfig) else cfg
    return (Path(base) / p) if base else p.resolve()


def default_output_dir(cfg: ExperimentConfig) -> Path:
    """``cfg.output_dir`` if set, else ``output/<dataset>/<model>/<config-name>/`` under the current directory."""
    if cfg.output_dir:
        return Path(expand_path(cfg.output_dir))
    return Path("output") / cfg.dataset_name / (cfg.model.name or "model") / (cfg.name or "experiment")
