"""The OpenMP wait policy of the benchmarks, set before torch or ONNX Runtime load. Standard library only.

torch's OpenMP runtime reads ``OMP_WAIT_POLICY`` once, when torch is imported; its default (active) spin-waiting
makes multi-threaded figures erratic on a loaded machine. The ``edgepose bench`` commands therefore set
``OMP_WAIT_POLICY=PASSIVE`` (``--omp-wait``) *before* they import torch or ONNX Runtime -- the ``edgepose`` entry
point imports neither before a command runs -- and report what was in force. Called in a process that has already
imported torch (a notebook, a test), the setting cannot take effect any more and the report says so. This module
must not import torch itself, or it would defeat its purpose.
"""

from __future__ import annotations

import os
import sys

from edgepose.errors import EdgeposeError

__all__ = ["OMP_WAIT_CHOICES", "set_omp_wait_policy"]

OMP_WAIT_CHOICES = ("passive", "active", "inherit")


def set_omp_wait_policy(choice: str) -> str:
    """Set ``OMP_WAIT_POLICY`` for ``choice`` before torch / ONNX Runtime load, and say what is in force.

    Returns the policy as the OpenMP runtime will see it, with a note when torch was already imported (then the
    variable was read before and changing it now would only mislead: it is left as it was).
    """
    if choice not in OMP_WAIT_CHOICES:
        raise EdgeposeError(f"--omp-wait must be one of {', '.join(OMP_WAIT_CHOICES)}, got {choice!r}")
    loaded = [m for m in ("torch", "onnxruntime") if m in sys.modules]
    current = os.environ.get("OMP_WAIT_POLICY")
    if choice == "inherit" or current == choice.upper():
        return current or "default (active)"
    if loaded:
        return f"{current or 'default (active)'} (not changed: {', '.join(loaded)} already loaded)"
    os.environ["OMP_WAIT_POLICY"] = choice.upper()
    return choice.upper()
