"""``--fast``: the one-person fast mode, one flag in ``predict``, ``demo`` and ``pck``.

The mode itself is the runtime's (:data:`edgepose.runtime.estimator.FAST_MODE`, :meth:`PoseEstimator.fast`):
the whole image as the person's box, no flip test, no refinement pass and, when no model is named, the shipped
model's INT8 file. Here the flag becomes those option values, and options that say otherwise are refused rather
than silently overridden.
"""

from __future__ import annotations

import argparse

from edgepose.errors import ConfigError

FAST_HELP = ("one-person fast mode: the whole image as the box, one network call (no flip test, no refinement), "
             "the shipped model's INT8 file unless a model is named; several times faster, less accurate")  # fmt: skip


def add_fast_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fast", action="store_true", help=FAST_HELP)


def apply_fast(args: argparse.Namespace) -> None:
    """Turn ``--fast`` into the option values of the fast mode; a box or pass option beside it is an error."""
    if not getattr(args, "fast", False):
        return
    from edgepose.runtime.boxes import NO_DETECTOR
    from edgepose.runtime.estimator import FAST_MODE

    clashes = [name for name, value in (("--detector", getattr(args, "detector", None)),
                                        ("--boxes", getattr(args, "boxes", None)),
                                        ("--refine", getattr(args, "refine", None))) if value is not None]  # fmt: skip
    if getattr(args, "box", "image") != "image":
        clashes.append("--box")
    if clashes:
        raise ConfigError(f"--fast runs the whole image with no detector and no refinement: drop {', '.join(clashes)}")
    args.detector = NO_DETECTOR
    args.flip_test, args.refine = FAST_MODE["flip_test"], FAST_MODE["refine"]
    if not (getattr(args, "onnx", None) or getattr(args, "weights", None) or getattr(args, "model", None)):
        from edgepose.assets import shipped_fast_onnx

        args.onnx = str(shipped_fast_onnx())
