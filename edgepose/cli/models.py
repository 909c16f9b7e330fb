"""``edgepose models``: every model name, its task, default input size and overridable keys with defaults.

    edgepose models            # a table
    edgepose models --json     # {"models": [{"name", "task", "input_size", "options": {...}}, ...]}

Overridable keys are the constructors' keyword arguments; set them with ``--set key=value`` on the command
line or under ``model.overrides`` in a config. The task and input size are read from a model built on
PyTorch's ``meta`` device (no memory, no initialisation cost).
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "models",
        help="list the models, their task and overridable keys with defaults",
        description="List every model name with its task (topdown/bottomup), default input size and the "
        "keyword options that --set / model.overrides accept, with their defaults.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def describe_model(name: str) -> dict[str, Any]:
    """``{"name", "task", "input_size", "options"}`` for model ``name``; ``error`` instead if it cannot load."""
    import torch

    from edgepose.models import build_model, model_options

    try:
        options = model_options(name)
    except Exception as exc:
        return {"name": name, "task": None, "input_size": None, "options": {}, "error": f"{type(exc).__name__}: {exc}"}
    task = input_size = None
    try:
        with torch.device("meta"):
            model = build_model(name)
        task = getattr(model, "task", None)
        size = getattr(model, "input_size", None)
        input_size = None if size is None else [int(v) for v in size]
    except Exception:
        size = options.get("input_size")
        input_size = None if size is None else [int(v) for v in size]
    return {"name": name, "task": task, "input_size": input_size, "options": _plain(options)}


def run(args: argparse.Namespace) -> int:
    from edgepose.models import list_models

    rows = [describe_model(name) for name in list_models()]
    if args.json:
        print(json.dumps({"models": rows}))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        size = "x".join(map(str, r["input_size"])) if r["input_size"] else "?"
        print(f"{r['name']:<{width}}  {r['task'] or '?':<8}  {size}")
        if "error" in r:
            print(f"    (unavailable: {r['error']})")
            continue
        for key, value in r["options"].items():
            print(f"    {key} = {json.dumps(value)}")
    print("\nOverride any option with --set key=value (YAML-typed), e.g. --set gc=false --set ratios=[2,2,2,2].")
    return 0
