"""Keep a thread's alternate signal stack across the loading of OpenVINO's CPU plugin.

Why this exists: OpenVINO's CPU plugin (``libopenvino_intel_cpu_plugin.so``, seen in 2026.4) installs an
alternate signal stack of its own (``sigaltstack``, for the larger AMX signal frames) on the thread that loads
it, remembering the one it replaced. Every ``ov.Core`` loads its own plugin, on its first ``compile_model``.
When a plugin is unloaded it puts back the stack it replaced only if its own is still the current one, and then
unmaps its own. Two Cores unloaded in the order they were made (not nested) therefore leave the thread's
alternate stack pointing at unmapped memory: the second one puts back the first one's stack, already unmapped.
Nothing goes wrong until a signal arrives whose handler runs on the alternate stack -- every Python-level
handler does (CPython installs them with ``SA_ONSTACK``), e.g. the SIGCHLD handler that torch's DataLoader
installs, called whenever a worker or a ``subprocess`` child exits. The kernel then cannot write the signal
frame and kills the process with SIGSEGV (``si_code`` SI_KERNEL, no faulthandler output), far from the cause.
That was the whole-suite segfault of December 2026 (benchmarks/results/segfault_2026-12-07.txt).

:func:`keep_signal_stack` around the code that loads the plugin puts the thread's previous stack back, so a
plugin's own stack is never current when it is unmapped. That is safe for OpenVINO's purpose: on a CPU with
AMX the kernel refuses (``ENOMEM``) an alternate stack too small for its signal frames, and the plugin's stack
is then simply left in place. Linux only (the plugin does this on Linux only); elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager


class _StackT(ctypes.Structure):
    """Linux ``stack_t`` (the field order differs on macOS, hence Linux only)."""

    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def _load_sigaltstack():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).sigaltstack
    except (OSError, AttributeError):
        return None


_sigaltstack = _load_sigaltstack()


def current_signal_stack() -> tuple[int, int, int] | None:
    """The calling thread's alternate signal stack as ``(address, size, flags)``; None where it is not known."""
    if _sigaltstack is None:
        return None
    stack = _StackT()
    if _sigaltstack(None, ctypes.byref(stack)) != 0:
        return None
    return stack.ss_sp or 0, stack.ss_size, stack.ss_flags


@contextmanager
def keep_signal_stack() -> Iterator[None]:
    """Run the body, then give the calling thread back the alternate signal stack it had before (module docstring)."""
    before = _StackT()
    if _sigaltstack is None or _sigaltstack(None, ctypes.byref(before)) != 0:
        yield
        return
    try:
        yield
    finally:
        if current_signal_stack() != (before.ss_sp or 0, before.ss_size, before.ss_flags):
            _sigaltstack(ctypes.byref(before), None)  # a refusal (AMX, ENOMEM) leaves the plugin's stack in place
