"""Inference back-ends for exported networks: ONNX Runtime, OpenVINO (optional), and the choice between them.

* :func:`create_session` opens an ``onnxruntime.InferenceSession`` (threads, execution providers, errors that
  name the file).
* :class:`OnnxNetwork` is the callable the runtime uses, ``(N, 3, H, W) float32 -> {output name: array}``, over
  one of the back-ends in :data:`BACKENDS`:

  ``ort``       ONNX Runtime, all graph optimisations (its blocked NCHWc layout included), on the file given.
  ``openvino``  OpenVINO's CPU runtime (``pip install 'edgepose[openvino]'``), fp32 inference precision
                forced (its default on CPUs with bf16 units is bf16, which would change the outputs).
  ``auto``      (the default) the fastest of the candidates available here, **measured**: ONNX Runtime on
                the file; OpenVINO on it, when installed; both on the INT8 sibling ``NAME.int8.onnx`` written
                by ``edgepose quantize``, when it exists (on CPUs with VNNI, OpenVINO's INT8 kernels ran the
                shipped model in ~0.5x of ONNX Runtime's fp32 time). Each runs a few interleaved calls at the
                model's input size; the fastest median wins. Which back-end is fastest depends on the CPU and
                the model (docs/deployment.md: on one AMD EPYC, OpenVINO is fastest for FLPN-50, INT8 for
                SimpleBaseline-R50), so it is measured, not assumed; INT8 is only used when measured faster.
                The choice is remembered per file, thread count and machine in ``$EDGEPOSE_CACHE_DIR`` (default
                ``~/.cache/edgepose``) so that it is paid once, not on every run.

  When there is a single candidate (no OpenVINO, no INT8 sibling, or GPU providers asked for), ``auto`` is
  plain ``ort`` and costs nothing. ``--backend`` on ``edgepose predict / pck / demo`` forces one.

onnxruntime and openvino are imported inside the functions that need them, so importing
:mod:`edgepose.runtime` stays cheap. Torch-free.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgepose.errors import EdgeposeError
from edgepose.io import atomic_write_text
from edgepose.meta import ModelInfo
from edgepose.runtime.signal_stack import keep_signal_stack

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
}
BACKENDS = ("auto", "ort", "openvino")
INT8_SUFFIX = ".int8.onnx"
PROBE_WARMUP, PROBE_CALLS = 2, 5
_default_backend = "auto"
_choices: dict[str, str] = {}  # in-process memo of auto choices: cache key -> "backend:path"


def _import_ort():
    try:
        import onnxruntime as ort
    except ImportError:
        raise EdgeposeError("onnxruntime is not installed: pip install 'edgepose[runtime]'") from None
    return ort


def openvino_available() -> bool:
    """Whether OpenVINO's Python runtime can be imported here."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def set_default_backend(name: str) -> None:
    """The back-end :class:`OnnxNetwork` uses when none is given (the CLI's ``--backend``); ``auto`` by default."""
    global _default_backend
    _default_backend = check_backend(name)


def default_backend() -> str:
    return _default_backend


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise EdgeposeError(f"unknown back-end {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "openvino" and not openvino_available():
        raise EdgeposeError("back-end 'openvino' is not installed: pip install 'edgepose[openvino]'")
    return name


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
    # ORT's thread pool busy-waits for new work after each run by default: on a 2-core device that took 40-60 ms
    # of CPU from the rest of the application after every frame. A pose estimator runs once per frame, not in a
    # tight loop, so its pool sleeps between calls (benchmarks/default_frame_latency.py measures the CPU).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
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


class _OrtRunner:
    """ONNX Runtime: a session, its input/output names, and a fixed batch size if the file has one."""

    def __init__(self, path: Path, threads: int | None, providers: Sequence[str] | None) -> None:
        self.session = create_session(path, threads=threads, providers=providers)
        self.info = session_info(self.session, path)
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        batch = inputs[0].shape[0]
        self.max_batch = batch if isinstance(batch, int) and batch > 0 else None
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: batch})


class _OpenVinoRunner:
    """OpenVINO CPU: the ONNX file compiled for latency, fp32 precision, ``threads`` inference threads."""

    def __init__(self, path: Path, threads: int | None) -> None:
        import openvino as ov

        # the metadata is read through ONNX Runtime: OpenVINO does not expose ONNX metadata_props
        self.info = session_info(create_session(path, threads=1), path)
        core = ov.Core()
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            # compile_model loads the CPU plugin, which swaps in its own alternate signal stack (signal_stack.py)
            with keep_signal_stack():
                self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        except RuntimeError as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EdgeposeError(f"OpenVINO cannot compile this model ({reason[:200]})", path) from None
        self.request = self.compiled.create_infer_request()
        port = self.compiled.inputs[0]
        self.input_name = port.get_any_name()
        batch = port.get_partial_shape()[0]
        self.max_batch = batch.get_length() if batch.is_static else None
        self.output_names = [o.get_any_name() for o in self.compiled.outputs]

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        result = self.request.infer({0: batch})
        return [np.array(result[out]) for out in self.compiled.outputs]


class OnnxNetwork:
    """A callable ``(N, 3, H, W) float32 -> {output name: array}`` over one back-end (see the module docstring).

    ``backend=None`` uses :func:`default_backend` (``auto`` unless the CLI's ``--backend`` set another).
    ``path`` is the file asked for; ``model_path`` the file run (the INT8 sibling when ``auto`` chose it);
    ``backend`` the back-end run (``ort`` / ``openvino``).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        backend: str | None = None,
    ):
        self.path = Path(path)
        requested = check_backend(backend or _default_backend)
        if requested == "auto":
            requested, model_path = choose_backend(self.path, threads=threads, providers=providers)
        else:
            model_path = self.path
        self.backend, self.model_path = requested, Path(model_path)
        self.runner = _open_runner(self.backend, self.model_path, threads, providers)
        self.session = getattr(self.runner, "session", None)
        self.info = self.runner.info
        self.input_name = self.runner.input_name
        self.max_batch = self.runner.max_batch
        self.output_names = self.runner.output_names

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.max_batch is not None and batch.shape[0] != self.max_batch:
            parts = [self.runner.run(batch[i : i + 1]) for i in range(batch.shape[0])]
            outs = [np.concatenate([p[j] for p in parts]) for j in range(len(self.output_names))]
        else:
            outs = self.runner.run(batch)
        return dict(zip(self.output_names, outs))


def _open_runner(backend: str, path: Path, threads: int | None, providers: Sequence[str] | None):
    if backend == "openvino":
        if not path.is_file():
            raise EdgeposeError("ONNX model not found", path)
        return _OpenVinoRunner(path, threads)
    return _OrtRunner(path, threads, providers)


# ------------------------------------------------------------------------------------------------ auto choice
def int8_sibling(path: Path) -> Path | None:
    """``NAME.int8.onnx`` beside ``NAME.onnx`` (``edgepose quantize``'s naming), if it exists."""
    if path.name.endswith(INT8_SUFFIX):
        return None
    sibling = path.with_name(path.name[: -len(path.suffix)] + INT8_SUFFIX) if path.suffix else None
    return sibling if sibling is not None and sibling.is_file() else None


def candidates(path: Path, providers: Sequence[str] | None = None) -> list[tuple[str, Path]]:
    """(back-end, file) pairs ``auto`` chooses among: GPU providers asked for leave ONNX Runtime alone."""
    found = [("ort", path)]
    if any(PROVIDER_ALIASES.get(p.lower(), p) != "CPUExecutionProvider" for p in providers or []):
        return found
    if openvino_available():
        found.append(("openvino", path))
    int8 = int8_sibling(path)
    if int8 is not None:
        found += [(name, int8) for name, _ in found]  # each back-end on the INT8 file too
    return found


def _cache_key(path: Path, threads: int | None, options: Sequence[tuple[str, Path]]) -> str:
    parts = [platform.machine(), platform.processor() or platform.node(), str(os.cpu_count()), str(threads)]
    for _, file in options:
        stat = file.stat()
        parts += [str(file.resolve()), str(stat.st_size), str(stat.st_mtime_ns)]
    parts += [name for name, _ in options]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _cache_file() -> Path:
    root = os.environ.get("EDGEPOSE_CACHE_DIR") or Path.home() / ".cache" / "edgepose"
    return Path(root) / "backends.json"


def _read_cache() -> dict[str, str]:
    try:
        data = json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(key: str, value: str) -> None:
    """Best effort: an unwritable cache only means measuring again next time."""
    data = _read_cache()
    data[key] = value
    target = _cache_file()
    try:
        atomic_write_text(target, json.dumps(data, indent=1))
    except OSError:
        pass


def measure_backends(
    options: Sequence[tuple[str, Path]], threads: int | None, *, calls: int = PROBE_CALLS
) -> dict[tuple[str, Path], float]:
    """Median seconds per batch-1 call of each (back-end, file), calls interleaved across the options so
    that a load change on the machine hits every option alike. Options that fail to open are left out."""
    runners = {}
    for option in options:
        try:
            runners[option] = _open_runner(option[0], option[1], threads, None)
        except EdgeposeError:
            continue
    if not runners:
        return {}
    info = next(iter(runners.values())).info
    x = np.random.default_rng(0).standard_normal((1, 3, *info.input_size)).astype(np.float32)
    times: dict[tuple[str, Path], list[float]] = {o: [] for o in runners}
    for i in range(PROBE_WARMUP + calls):
        for option, runner in runners.items():
            start = time.perf_counter()
            runner.run(x)
            if i >= PROBE_WARMUP:
                times[option].append(time.perf_counter() - start)
    return {o: float(np.median(t)) for o, t in times.items()}


def choose_backend(
    path: str | Path, *, threads: int | None = None, providers: Sequence[str] | None = None
) -> tuple[str, Path]:
    """The (back-end, file) ``auto`` runs for ``path``: measured once per file, threads and machine."""
    path = Path(path)
    if not path.is_file():
        raise EdgeposeError("ONNX model not found", path)
    options = candidates(path, providers)
    if len(options) == 1:
        return options[0]
    key = _cache_key(path, threads, options)
    remembered = _choices.get(key) or _read_cache().get(key)
    for name, file in options:
        if remembered == f"{name}:{file}":
            _choices[key] = remembered
            return name, file
    timings = measure_backends(options, threads)
    best = min(timings, key=timings.get) if timings else options[0]
    _choices[key] = f"{best[0]}:{best[1]}"
    _write_cache(key, _choices[key])
    return best
