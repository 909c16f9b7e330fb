"""ONNX Runtime sessions: thread count, execution providers, and errors that name the file.

onnxruntime is imported inside :func:`create_session`, so importing :mod:`edgepose.runtime` stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgepose.errors import EdgeposeError
from edgepose.runtime.model_info import ModelInfo

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
}


def _import_ort():
    try:
        import onnxruntime as ort
    except ImportError:
        raise EdgeposeError("onnxruntime is not installed: pip install 'edgepose[runtime]'") from None
    return ort


def create_session(path: str | Path, *, threads: int | None = None, providers: Sequence[str] | None = None):
    """An ``onnxruntime.InferenceSession`` for ``path``.

    ``threads`` sets intra-op threads (``None``: onnxruntime's default, one per physical core); ``providers``
    are names or aliases (``cpu``, ``cuda``, ...) tried in order; unavailable ones are skipped, CPU is always
    the last resort. A missing or corrupt file raises EdgeposeError naming it.
    """
    ort = _import_ort()
    path = Path(path)
    if not path.is_file():
        raise EdgeposeError("ONNX model not found", path)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if threads is not None:
        if threads < 1:
            raise EdgeposeError(f"threads must be >= 1, got {threads}")
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    available = set(ort.get_available_providers())
    chosen = [PROVIDER_ALIASES.get(p.lower(), p) for p in (providers or ["cpu"])]
    chosen = [p for p in chosen if p in available] or []
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=chosen)
    except Exception as exc:  # onnxruntime raises its own Fail / InvalidGraph / InvalidProtobuf types
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EdgeposeError(f"not a loadable ONNX model ({type(exc).__name__}: {reason[:200]})", path) from None


def session_info(session, path: str | Path | None = None) -> ModelInfo:
    """The :class:`ModelInfo` stored in a session's model metadata."""
    props = session.get_modelmeta().custom_metadata_map
    return ModelInfo.from_metadata(props, None if path is None else str(path))


class OnnxNetwork:
    """A callable ``(N, 3, H, W) float32 -> {output name: array}`` over an ONNX Runtime session."""

    def __init__(self, path: str | Path, *, threads: int | None = None, providers: Sequence[str] | None = None):
        self.path = Path(path)
        self.session = create_session(path, threads=threads, providers=providers)
        self.info = session_info(self.session, path)
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        batch = inputs[0].shape[0]
        self.max_batch = batch if isinstance(batch, int) and batch > 0 else None
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.max_batch is not None and batch.shape[0] != self.max_batch:
            parts = [self.session.run(None, {self.input_name: batch[i : i + 1]}) for i in range(batch.shape[0])]
            outs = [np.concatenate([p[j] for p in parts]) for j in range(len(self.output_names))]
        else:
            outs = self.session.run(None, {self.input_name: batch})
        return dict(zip(self.output_names, outs))
