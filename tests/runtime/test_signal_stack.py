"""The thread's alternate signal stack survives OpenVINO's CPU plugin (edgepose.runtime.signal_stack).

The failure it prevents is a SIGSEGV at the next signal handled on the alternate stack, so the OpenVINO case
runs in a child process: a regression kills the child (return code -11), not the test session.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import textwrap

import pytest

from edgepose.runtime import signal_stack

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack is handled on Linux only")

# An alternate stack standing in for the plugin's; kept for the whole session, so never unmapped while in use.
_STAND_IN = ctypes.create_string_buffer(64 * 1024)


def _install_stand_in() -> None:
    stack = signal_stack._StackT(ctypes.addressof(_STAND_IN), 0, len(_STAND_IN))
    assert signal_stack._sigaltstack(ctypes.byref(stack), None) == 0


@linux_only
def test_the_stack_a_body_swaps_in_is_swapped_back_out() -> None:
    before = signal_stack.current_signal_stack()
    with signal_stack.keep_signal_stack():
        _install_stand_in()
        assert signal_stack.current_signal_stack() == (ctypes.addressof(_STAND_IN), len(_STAND_IN), 0)
    assert signal_stack.current_signal_stack() == before
    with signal_stack.keep_signal_stack():  # a body that leaves the stack alone changes nothing
        pass
    assert signal_stack.current_signal_stack() == before


@linux_only
def test_the_stack_is_swapped_back_when_the_body_raises() -> None:
    before = signal_stack.current_signal_stack()
    with pytest.raises(RuntimeError, match="compile failed"), signal_stack.keep_signal_stack():
        _install_stand_in()
        raise RuntimeError("compile failed")
    assert signal_stack.current_signal_stack() == before


_CHILD = textwrap.dedent(
    """
    import faulthandler, gc, os, signal, sys

    faulthandler.enable()  # installs an alternate stack, as pytest's faulthandler plugin does
    from edgepose.runtime.session import OnnxNetwork
    from edgepose.runtime.signal_stack import current_signal_stack

    before = current_signal_stack()
    first = OnnxNetwork(sys.argv[1], threads=1, backend="openvino")
    second = OnnxNetwork(sys.argv[1], threads=1, backend="openvino")
    del first
    gc.collect()
    del second  # the plugins are unloaded in the order they were loaded, not nested
    gc.collect()
    print("same stack", current_signal_stack() == before, flush=True)
    handled = []
    signal.signal(signal.SIGUSR1, lambda *_: handled.append(True))  # CPython runs it on the alternate stack
    os.kill(os.getpid(), signal.SIGUSR1)
    print("handled", handled, flush=True)
    """
)


@linux_only
@pytest.mark.slow
def test_two_openvino_networks_unloaded_in_loading_order_leave_a_usable_stack(tmp_path) -> None:
    pytest.importorskip("openvino")
    from standins import TinyTopdown

    from edgepose.export.onnx import export_onnx

    path = tmp_path / "tiny.onnx"
    export_onnx(TinyTopdown(keypoints="lsp", input_size=(32, 32), width=8).eval(), path, slim=False)
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode != -signal.SIGSEGV, f"the child died of SIGSEGV:\n{done.stdout}{done.stderr[-2000:]}"
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["same stack True", "handled [True]"]
