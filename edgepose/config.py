"""Dataclass configs loaded from YAML, with overrides, and unknown keys rejected by name.

Configs are plain (nested) dataclasses. :func:`from_dict` builds one from a mapping and raises
:class:`~edgepose.errors.ConfigError` naming the first unknown key (``train.lr_sheduler``) instead of silently
ignoring a typo, the behaviour SimpleBaseline's loader got right. :func:`apply_overrides` takes the
``key.sub=value`` strings of ``--set`` with YAML-typed values, so the same keys work in files and on the
command line.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from edgepose.errors import ConfigError
from edgepose.io import atomic_write_text, current_umask, new_file_mode, temp_file_beside  # noqa: F401 (re-exported)

T = TypeVar("T")


def parse_value(text: str) -> Any:
    """Parse a command-line value the way YAML would (``3`` -> int, ``false`` -> bool, ``[2,8]`` -> list)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_overrides(items: Iterable[str] | None) -> dict[str, Any]:
    """``["a.b=1", "c=[2, 8]"]`` -> ``{"a.b": 1, "c": [2, 8]}``; a malformed item raises ConfigError."""
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            # `--set` takes every following word up to the next option: a positional argument written after it
            # (`complexity --set gc=false flpn_sres50`) lands here
            raise ConfigError(
                f"override {item!r} is not of the form key=value (`--set` takes the words after it up to the next "
                "option: put positional arguments before --set)"
            )
        out[key.strip()] = parse_value(value.strip())
    return out


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert a YAML value to the field's declared type, or raise ConfigError naming the key."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"config key {key!r}: value {value!r} fits none of {annotation}")
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {key!r}: expected a mapping, got {value!r}")
        return from_dict(annotation, value, prefix=f"{key}.")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key!r}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"config key {key!r}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item_type = args[0] if args else Any
        items = [_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {key!r}: expected a mapping, got {value!r}")
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r}: expected true/false, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "5e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"config key {key!r}: expected a number, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r}: expected an integer, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"config key {key!r}: expected a string, got {value!r}")
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys raise ConfigError with their dotted name."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"config section {prefix.rstrip('.') or '<root>'!r} must be a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"unknown config key {prefix + str(key)!r}; known keys here: {', '.join(sorted(fields))}")
        kwargs[key] = _coerce(value, hints[key], prefix + key)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"config section {prefix.rstrip('.') or '<root>'!r}: {exc}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain (YAML-safe) dict of a dataclass config; tuples become lists."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v) if f.init}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(cfg)


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data["a"]["b"] = value`` for ``dotted == "a.b"``, creating sections as needed."""
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def apply_overrides(cfg: T, overrides: Mapping[str, Any] | Iterable[str] | None) -> T:
    """A copy of dataclass ``cfg`` with ``{"a.b": value}`` (or ``["a.b=value"]``) applied and re-validated."""
    if overrides is None:
        return cfg
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    data = to_dict(cfg)
    for key, value in overrides.items():
        set_dotted(data, key, value)
    return from_dict(type(cfg), data)


_VAR_WITH_DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")


def expand_path(value: str | Path) -> str:
    """``~`` and environment variables expanded, with shell-style defaults: ``${EDGEPOSE_DATA:-../../shared/data}``.

    Configs name their data as ``${EDGEPOSE_DATA:-../../shared/data}/lspet/joints.mat``: the data folder the
    tests and CI use (``$EDGEPOSE_DATA``), else the repository's sibling ``shared/data`` (relative to the config
    file, resolved by the caller). A variable that starts the path and holds a relative path is made absolute
    against the current folder (where the user set it), not against the config's folder.
    """
    text = str(value)

    def substitute(match: re.Match[str]) -> str:
        env = os.environ.get(match.group(1))
        if not env:
            return match.group(2)
        return os.path.abspath(env) if match.start() == 0 else env

    text = _VAR_WITH_DEFAULT.sub(substitute, text)
    return os.path.expandvars(os.path.expanduser(text))


def read_yaml(path: str | Path, *, allow_empty: bool = False) -> dict[str, Any]:
    """Read a YAML mapping, with one-line errors naming the file: missing, not a file (a folder, a named pipe:
    said as such), malformed, empty (unless ``allow_empty``), or not a mapping."""
    from edgepose.pathkind import require_file

    path = require_file(path, "config file", ConfigError)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"malformed YAML{where}", path) from None
    except UnicodeDecodeError:
        raise ConfigError("not a text (UTF-8) file, so not a YAML config", path) from None
    if data is None:
        if allow_empty:
            return {}
        raise ConfigError("the config file is empty (no keys: nothing to run)", path)
    if not isinstance(data, dict):
        raise ConfigError("top level of a config must be a mapping", path)
    return data


def load_config(cls: type[T], path: str | Path, overrides: Iterable[str] | Mapping[str, Any] | None = None) -> T:
    """Load dataclass ``cls`` from a YAML file, then apply overrides; errors name the file and key."""
    data = read_yaml(path)
    try:
        cfg = from_dict(cls, data)
    except ConfigError as exc:
        raise ConfigError(str(exc), path) from None
    return apply_overrides(cfg, overrides)


def save_yaml(data: Any, path: str | Path) -> None:
    """Write a config (dataclass or dict) as YAML atomically: a crash never leaves a half-written file."""
    payload = to_dict(data) if dataclasses.is_dataclass(data) else data
    atomic_write_text(path, yaml.safe_dump(payload, sort_keys=False))
