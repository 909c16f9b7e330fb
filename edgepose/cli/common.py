"""Argument helpers shared by every subcommand, so the same option reads the same everywhere.

``--set`` is the one that matters most: users copy ``--set a=1 b=2`` from one command's docs to another's,
and write ``--set a=1 --set b=2`` out of habit from other tools. :func:`add_set_argument` accepts both forms
(and any mix) in every command that takes overrides; the values land in ``args.overrides`` as a flat list of
``KEY=VALUE`` strings, in order, for :func:`edgepose.config.parse_overrides`.

Range and output-path checks of option values live in :mod:`edgepose.cli.checks`.
"""

from __future__ import annotations

import argparse


def add_set_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup, help: str | None = None) -> None:
    """Add ``--set KEY=VALUE [KEY=VALUE ...]`` (repeatable) storing a flat list in ``args.overrides``.

    ``nargs="+"`` with ``action="extend"`` is what makes ``--set a=1 b=2`` and ``--set a=1 --set b=2`` equal;
    a plain ``action="append"`` would leave ``b=2`` to the positional arguments and fail with the top-level
    usage line.
    """
    parser.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help=help or "override options, YAML-typed: --set a=1 b=2 or --set a=1 --set b=2",
    )



def add_refine_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--refine N`` (top-down models): extra passes per box, each re-cropped around the last pass's joints.

    The default, :data:`edgepose.runtime.estimator.DEFAULT_REFINE`, is the same for ``predict``, ``demo`` and
    ``pck``, so the PCK that ``pck`` prints is measured on exactly what ``predict`` runs.
    """
    from edgepose.runtime.estimator import DEFAULT_REFINE

    def passes(text: str) -> int:
        value = int(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
        return value

    parser.add_argument(
        "--refine",
        type=passes,
        default=DEFAULT_REFINE,
        metavar="N",
        help="top-down: extra passes per box, each re-cropped around the last pass's confident joints "
        f"(default {DEFAULT_REFINE}; 0 = one pass)",
    )


def add_backend_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--backend {auto,ort,openvino}``: which inference back-end runs an ONNX model.

    ``auto`` (the default) measures the available ones once per model and machine and keeps the fastest
    (:func:`edgepose.runtime.session.choose_backend`); the others force one. The commands call
    :func:`use_backend` with the parsed arguments before they open a model.
    """
    from edgepose.runtime.session import BACKENDS

    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="inference back-end for ONNX models: auto = the fastest available here, measured once per model "
        "(ONNX Runtime, OpenVINO if installed, the NAME.int8.onnx sibling if present); ort / openvino force one",
    )


def use_backend(args: argparse.Namespace) -> None:
    """Make ``args.backend`` the runtime's back-end for this command (``auto`` when the command has no flag)."""
    from edgepose.runtime.session import set_default_backend

    set_default_backend(getattr(args, "backend", "auto"))
