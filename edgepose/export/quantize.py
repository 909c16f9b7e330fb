"""Static INT8 quantisation of an exported model with ONNX Runtime, calibrated on real images.

``quantize_onnx`` reads the fp32 model's edgepose metadata, pre-processes calibration images exactly like the
runtime does (top-down: the whole image as one person crop; bottom-up: the image at the inference height),
feeds them to ``onnxruntime.quantization.quantize_static`` (QDQ format, per-channel int8 weights, uint8
activations, MinMax calibration), copies the metadata over and writes the result atomically
(:func:`edgepose.io.atomic_path`; ORT's tools write their intermediate models into a scratch folder beside
``out_path``, removed at the end). It then reports how far the int8 model is from the fp32 one on the calibration
images: max / mean abs difference of the outputs, and the keypoint-level difference after decoding (pixels, over
keypoints found by both), with advice when that difference is large.

A model that is already quantised is refused up front (quantising QDQ nodes again gives a model ONNX Runtime
cannot load, and ORT says so in dozens of warnings); the result is checked and run once as its temporary file
before it is moved to ``out_path``, so a failed quantisation never leaves an invalid file there.

No torch: needs onnx + onnxruntime only (``edgepose quantize`` runs where ``edgepose[runtime]`` + onnx are
installed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgepose.errors import DataError, EdgeposeError
from edgepose.io import atomic_path
from edgepose.meta import ModelInfo
from edgepose.runtime.estimator import PoseEstimator
from edgepose.runtime.poses import box_iou
from edgepose.runtime.preprocess import bottomup_input, topdown_inputs
from edgepose.runtime.session import OnnxNetwork, create_session
from edgepose.runtime.sources import IMAGE_EXTENSIONS, read_image_bgr


@dataclass
class QuantizeReport:
    path: str
    calibration_images: int
    max_abs_diff: float
    mean_abs_diff: float
    keypoint_mean_px: float | None  # mean distance of keypoints found by both models
    keypoint_max_px: float | None
    size_fp32_mb: float
    size_int8_mb: float
    advice: str | None = None  # set when the INT8 keypoints are far from the fp32 ones

    def to_json(self) -> dict:
        return asdict(self)


def calibration_images(sources: Sequence[str | Path], max_images: int = 32) -> list[Path]:
    """Image files of ``sources`` (folders are listed, sorted), at most ``max_images``; none found -> DataError."""
    files: list[Path] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS))
        elif p.is_file():
            files.append(p)
        else:  # missing, or a named pipe / device / link to one: said as what it is, never read
            from edgepose.pathkind import path_kind

            kind = path_kind(p)
            raise DataError("calibration image or folder not found" if kind is None else
                            f"--calib must be an image or a folder of images, but this is {kind}", p)  # fmt: skip
    if not files:
        raise DataError(f"no calibration images ({', '.join(IMAGE_EXTENSIONS)}) in {', '.join(map(str, sources))}")
    return files[: max(1, int(max_images))]


# Quantised-model operators: a model holding any of them has been quantised already.
QUANTIZED_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
                           "MatMulInteger", "DynamicQuantizeLinear", "QLinearAdd", "QLinearMul"})  # fmt: skip
# Keypoint differences (pixels, INT8 vs fp32) above which the report comes with advice.
ADVICE_MEAN_PX, ADVICE_MAX_PX = 8.0, 64.0


def quantized_ops(model_path: str | Path) -> dict[str, int]:
    """Counts of the quantised operators in a model (empty for an fp32 model)."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(model_path), load_external_data=False).graph.node:
        if node.op_type in QUANTIZED_OPS:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def keypoint_advice(mean_px: float | None, max_px: float | None) -> str | None:
    """A one-line warning with what to try when INT8 keypoints land far from the fp32 ones, else None."""
    if mean_px is None or max_px is None or (mean_px <= ADVICE_MEAN_PX and max_px <= ADVICE_MAX_PX):
        return None
    return (
        f"INT8 keypoints are {mean_px:.1f} px (max {max_px:.1f} px) from the fp32 model's: calibrate on more, "
        "representative images (photos like those you will run on, --max-images 100 or more), try --reduce-range "
        "on CPUs without VNNI, or deploy the fp32 model; a model with random weights gives such figures anyway"
    )


@contextlib.contextmanager
def _quiet_quantizer(messages: list[str]):
    """Collect onnxruntime.quantization's Python log records and warnings (dozens per model) instead of printing
    them; the caller turns a failure into one line and drops them on success."""

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    root = logging.getLogger()
    handler, level = _Collect(logging.WARNING), root.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        messages.extend(str(w.message) for w in caught)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _check_quantized(path: Path, batch: np.ndarray, reference: dict[str, np.ndarray], input_name: str) -> None:
    """Load and run the INT8 model once; outputs must match the fp32 ones in name and shape and be finite."""
    session = create_session(path)
    names = [o.name for o in session.get_outputs()]
    outs = dict(zip(names, session.run(None, {input_name: batch})))
    for name, ref in reference.items():
        got = outs.get(name)
        if got is None or got.shape != ref.shape:
            raise EdgeposeError(f"the quantised model's output {name!r} is {None if got is None else got.shape}, "
                                f"fp32 gives {ref.shape}")  # fmt: skip
        if not np.isfinite(got).all():
            raise EdgeposeError(f"the quantised model's output {name!r} has NaN or infinite values")


def network_input(image_bgr: np.ndarray, info: ModelInfo) -> np.ndarray:
    """The runtime's network input for one calibration image."""
    if info.task == "topdown":
        h, w = image_bgr.shape[:2]
        return topdown_inputs(image_bgr, [[0.0, 0.0, float(w), float(h)]], info.input_size)[0]
    return bottomup_input(image_bgr, info.input_size[0], info.stride)[0]


class _Reader:
    """``onnxruntime.quantization.CalibrationDataReader`` over pre-processed images (duck-typed)."""

    def __init__(self, input_name: str, batches: list[np.ndarray]) -> None:
        self.input_name = input_name
        self._iter: Iterator[np.ndarray] = iter(batches)

    def get_next(self):
        batch = next(self._iter, None)
        return None if batch is None else {self.input_name: batch}

    def __len__(self) -> int:  # pragma: no cover - informational
        return 0


def _keypoint_distances(fp32: PoseEstimator, int8: PoseEstimator, image: np.ndarray) -> list[float]:
    a, b = fp32(image), int8(image)
    pairs = sorted(((box_iou(p.box, q.box), i, j) for i, p in enumerate(a) for j, q in enumerate(b)), reverse=True)
    used_a, used_b, dists = set(), set(), []
    for iou, i, j in pairs:
        if iou < 0.3 or i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        ka, kb = a[i].keypoints, b[j].keypoints
        both = (ka[:, 2] > 0) & (kb[:, 2] > 0)
        dists.extend(np.linalg.norm(ka[both, :2] - kb[both, :2], axis=1).tolist())
    return dists


def _refuse_quantized(model_path: Path) -> None:
    """Refuse a model that is quantised already: quantising QDQ nodes again gives a model ORT cannot load."""
    already = quantized_ops(model_path)
    if already:
        ops = ", ".join(f"{n} {op}" for op, n in sorted(already.items()))
        raise EdgeposeError(f"this model is already quantised ({ops}); quantise the fp32 model that "
                            "`edgepose export` wrote", model_path)  # fmt: skip


def _quantize_static(model_path: Path, scratch: Path, input_name: str, batches: list[np.ndarray], *,
                     per_channel: bool, reduce_range: bool, say: Callable[[str], None]) -> Path:  # fmt: skip
    """Pre-process (shape inference, graph optimisation) and quantise ``model_path`` into the scratch folder;
    returns the INT8 file there (QDQ, per-channel int8 weights, uint8 activations, MinMax calibration)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    prepared = scratch / "prepared.onnx"
    try:  # shape inference + graph optimisation, recommended before static quantisation
        from onnxruntime.quantization.shape_inference import quant_pre_process

        with _quiet_quantizer([]):
            quant_pre_process(str(model_path), str(prepared), skip_symbolic_shape=True)
    except Exception as exc:  # pragma: no cover - fall back to the model as exported, and say so
        say(f"shape pre-processing failed ({type(exc).__name__}: {exc}); quantising the model as exported")
        prepared = model_path
    quantized = scratch / "int8.onnx"
    say(f"calibrating on {len(batches)} images and quantising (QDQ, int8 weights, uint8 activations)")
    messages: list[str] = []
    try:
        with _quiet_quantizer(messages):
            quantize_static(
                str(prepared),
                str(quantized),
                _Reader(input_name, batches),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                reduce_range=reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        why = f"{type(exc).__name__}: {first[:300]}"
        raise EdgeposeError(f"static quantisation failed ({why})", model_path) from None
    return quantized


def _write_checked(quantized: Path, out_path: Path, info: ModelInfo, fp32: OnnxNetwork, batch: np.ndarray) -> None:
    """Copy the metadata onto the INT8 model and write it to ``out_path`` atomically -- only once it passes
    the ONNX checker and runs once with outputs shaped like the fp32 model's."""
    import onnx

    with atomic_path(out_path, suffix=".onnx") as final:
        try:
            proto = onnx.load(str(quantized))
            info.attach(proto)
            onnx.save(proto, str(final))
            onnx.checker.check_model(str(final))
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EdgeposeError(f"quantisation gave an invalid model ({first[:200]}); nothing written",
                                out_path) from None  # fmt: skip
        try:
            _check_quantized(final, batch, fp32(batch), fp32.input_name)
        except EdgeposeError as exc:
            reason = str(exc).removeprefix(f"{final}: ")
            raise EdgeposeError(f"the quantised model does not run ({reason}); nothing written", out_path) from None


def _compare(fp32: OnnxNetwork, int8: OnnxNetwork, info: ModelInfo, batches: list[np.ndarray],
             images: list[np.ndarray]) -> tuple[float, float, list[float]]:  # fmt: skip
    """(max, mean) absolute output difference over ``batches`` and the keypoint distances (pixels) between the
    two models' poses of ``images``."""
    diffs_max, diffs_sum, count = 0.0, 0.0, 0
    for batch in batches:
        ref, got = fp32(batch), int8(batch)
        for name in ref:
            d = np.abs(ref[name] - got[name])
            diffs_max = max(diffs_max, float(d.max()))
            diffs_sum += float(d.sum())
            count += d.size
    est32 = PoseEstimator(fp32, info, flip_test=False)
    est8 = PoseEstimator(int8, info, flip_test=False)
    dists: list[float] = []
    for img in images:
        dists.extend(_keypoint_distances(est32, est8, img))
    return diffs_max, diffs_sum / max(count, 1), dists


def quantize_onnx(
    model_path: str | Path,
    out_path: str | Path,
    calibration: Sequence[str | Path],
    *,
    max_images: int = 32,
    per_channel: bool = True,
    reduce_range: bool = False,
    log: Callable[[str], None] | None = None,
) -> QuantizeReport:
    """Quantise ``model_path`` to ``out_path`` (see the module docstring) and report the difference to fp32.

    ``log`` receives one line per stage (reading, calibrating, checking, comparing).
    """
    say = log or (lambda _msg: None)
    if max_images < 1:
        raise EdgeposeError(f"max_images must be >= 1, got {max_images}")
    model_path, out_path = Path(model_path), Path(out_path)
    if out_path.exists() and model_path.exists() and os.path.samefile(out_path, model_path):
        raise EdgeposeError("--out is the model being quantised: writing there would replace the fp32 model; "
                            "choose another --out (e.g. model.int8.onnx)", out_path)  # fmt: skip
    fp32 = OnnxNetwork(model_path, threads=None, backend="ort")  # never an INT8 sibling as the reference
    info = fp32.info
    _refuse_quantized(model_path)
    files = calibration_images(calibration, max_images)
    say(f"reading {len(files)} calibration images")
    images = [read_image_bgr(p) for p in files]
    batches = [network_input(img, info) for img in images]

    out_path.parent.mkdir(parents=True, exist_ok=True)
    # ORT's tools write their intermediate models by name: a scratch folder beside out_path, removed at the end
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".quantize.") as scratch:
        quantized = _quantize_static(model_path, Path(scratch), fp32.input_name, batches, per_channel=per_channel,
                                     reduce_range=reduce_range, say=say)  # fmt: skip
        say("checking the INT8 model")
        _write_checked(quantized, out_path, info, fp32, batches[0])

    say(f"comparing INT8 with fp32 on {len(images)} images")
    diff_max, diff_mean, dists = _compare(fp32, OnnxNetwork(out_path, backend="ort"), info, batches, images)
    mean_px = float(np.mean(dists)) if dists else None
    max_px = float(np.max(dists)) if dists else None
    return QuantizeReport(
        path=str(out_path),
        calibration_images=len(images),
        max_abs_diff=diff_max,
        mean_abs_diff=diff_mean,
        keypoint_mean_px=mean_px,
        keypoint_max_px=max_px,
        size_fp32_mb=model_path.stat().st_size / 2**20,
        size_int8_mb=out_path.stat().st_size / 2**20,
        advice=keypoint_advice(mean_px, max_px),
    )
