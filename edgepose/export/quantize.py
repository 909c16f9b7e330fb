"""Static INT8 quantisation of an exported model with ONNX Runtime, calibrated on real images.

``quantize_onnx`` reads the fp32 model's edgepose metadata, pre-processes calibration images exactly like the
runtime does (top-down: the whole image as one person crop; bottom-up: the image at the inference height),
feeds them to ``onnxruntime.quantization.quantize_static`` (QDQ format, per-channel int8 weights, uint8
activations, MinMax calibration), copies the metadata over and writes the result atomically. It then reports
how far the int8 model is from the fp32 one on the calibration images: max / mean abs difference of the
outputs, and the keypoint-level difference after decoding (pixels, over keypoints found by both).

No torch: needs onnx + onnxruntime only (``edgepose quantize`` runs where ``edgepose[runtime]`` + onnx are
installed).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgepose.errors import DataError, EdgeposeError
from edgepose.runtime.estimator import PoseEstimator
from edgepose.runtime.model_info import ModelInfo
from edgepose.runtime.poses import box_iou
from edgepose.runtime.preprocess import bottomup_input, topdown_inputs
from edgepose.runtime.session import OnnxNetwork
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
        else:
            raise DataError("calibration image or folder not found", p)
    if not files:
        raise DataError(f"no calibration images ({', '.join(IMAGE_EXTENSIONS)}) in {', '.join(map(str, sources))}")
    return files[: max(1, int(max_images))]


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


def quantize_onnx(
    model_path: str | Path,
    out_path: str | Path,
    calibration: Sequence[str | Path],
    *,
    max_images: int = 32,
    per_channel: bool = True,
    reduce_range: bool = False,
) -> QuantizeReport:
    """Quantise ``model_path`` to ``out_path`` (see the module docstring) and report the difference to fp32."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    model_path, out_path = Path(model_path), Path(out_path)
    fp32 = OnnxNetwork(model_path, threads=None)
    info = fp32.info
    images = [read_image_bgr(p) for p in calibration_images(calibration, max_images)]
    batches = [network_input(img, info) for img in images]

    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".quantize.") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:  # shape inference + graph optimisation, recommended before static quantisation
            from onnxruntime.quantization.shape_inference import quant_pre_process

            quant_pre_process(str(model_path), str(prepared), skip_symbolic_shape=True)
        except Exception:  # pragma: no cover - fall back to the model as exported
            prepared = model_path
        quantized = Path(tmp) / "int8.onnx"
        try:
            quantize_static(
                str(prepared),
                str(quantized),
                _Reader(fp32.input_name, batches),
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
            raise EdgeposeError(f"static quantisation failed ({why})", model_path) from exc
        proto = onnx.load(str(quantized))
        info.attach(proto)
        final = Path(tmp) / "final.onnx"
        onnx.save(proto, str(final))
        os.replace(final, out_path)  # the temporary folder is beside out_path: an atomic rename

    int8 = OnnxNetwork(out_path)
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
    return QuantizeReport(
        path=str(out_path),
        calibration_images=len(images),
        max_abs_diff=diffs_max,
        mean_abs_diff=diffs_sum / max(count, 1),
        keypoint_mean_px=float(np.mean(dists)) if dists else None,
        keypoint_max_px=float(np.max(dists)) if dists else None,
        size_fp32_mb=model_path.stat().st_size / 2**20,
        size_int8_mb=out_path.stat().st_size / 2**20,
    )
