"""A compact image store for device-resident training: every training image decoded once, kept as uint8.

Why: on a GPU the per-item work of :class:`~edgepose.data.topdown.TopdownDataset` (read, decode, warp, encode the
targets on CPU workers) is what holds training back, and a GPU machine lent for minutes may not even hold the
dataset. A store is one ``.npz`` file that holds the training set in a form that travels and loads in seconds:

* each image re-encoded (WebP by default; JPEG or lossless PNG on request), downscaled only where its long side
  exceeds ``max_side`` (LSPet at 192 px and WebP quality 60: about 29 MB for the 8,500 training images, where the
  originals take 163 MB; a whole-image crop at 256x256 then still reads about one stored pixel per input pixel);
* the training records it was built from (image, centre/scale or LSP box kind, joints in *original* image pixels,
  box score, PCK normaliser) and each image's original and stored size, so the device path recomputes exactly the
  crops of the loader path and needs no image file or annotation file where it runs;
* a ``meta`` JSON with the build parameters and a ``key`` (the data options the records depend on), so a cached
  store is reused only for the configuration that made it.

:func:`load_store` reads the index; :meth:`StoreIndex.decode` decodes every image once (threads, progress bar)
into one zero-padded RGB canvas array ``(N, H, W, 3)`` uint8, which ``edgepose.engine.device_batches`` moves to
the device and crops from. Coordinates: a stored pixel ``x_s`` is original pixel ``(x_s + 0.5) / f - 0.5`` (the
pixel-centre convention of ``cv2.resize``), ``f`` the stored / original size per axis.

numpy + OpenCV only (the data floor).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgepose.data.topdown import LSP_BOXES, PersonRecord
from edgepose.errors import ConfigError, DataError
from edgepose.io import atomic_write

STORE_VERSION = 1
FORMATS = {
    "webp": (".webp", cv2.IMWRITE_WEBP_QUALITY),
    "jpg": (".jpg", cv2.IMWRITE_JPEG_QUALITY),
    "png": (".png", None),
}


def store_key(options: Mapping[str, Any]) -> str:
    """A short hash of the options a store's content depends on (data selection and encoding)."""
    text = json.dumps({k: options[k] for k in sorted(options)}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _encode(image_bgr: np.ndarray, max_side: int | None, fmt: str, quality: int) -> tuple[bytes, tuple[int, int]]:
    h, w = image_bgr.shape[:2]
    f = 1.0 if not max_side else min(1.0, max_side / max(h, w))
    if f < 1.0:
        size = (max(1, round(w * f)), max(1, round(h * f)))
        image_bgr = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)
    ext, flag = FORMATS[fmt]
    ok, buf = cv2.imencode(ext, image_bgr, [flag, int(quality)] if flag is not None else [])
    if not ok:  # pragma: no cover - OpenCV built without the codec
        raise DataError(f"OpenCV could not encode {fmt}; choose another data.device_pipeline.format")
    return buf.tobytes(), image_bgr.shape[:2]


def build_store(
    records: Sequence[PersonRecord],
    path: str | Path,
    *,
    max_side: int | None = 192,
    quality: int = 60,
    fmt: str = "webp",
    key: str = "",
    threads: int | None = None,
    progress: Callable[[Any, int], Any] | None = None,
) -> Path:
    """Write the store of ``records`` (the training records of a dataset) to ``path`` (atomically).

    Images are read once each, in order of first appearance; ``progress(iterable, total)`` wraps the loop (a tqdm
    bar), ``key`` is recorded for :func:`store_matches`. Returns ``path``.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"config key 'data.device_pipeline.format': {fmt!r} is not one of {', '.join(FORMATS)}")
    if not records:
        raise DataError("no training records to store", path)
    path = Path(path)
    index: dict[Path, int] = {}
    for r in records:
        index.setdefault(Path(r.image_path), len(index))
    paths = list(index)

    def one(p: Path) -> tuple[bytes, tuple[int, int], tuple[int, int]]:
        image = cv2.imread(str(p), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if image is None:
            raise DataError("image file is missing or unreadable", p)
        data, stored = _encode(image, max_side, fmt, quality)
        return data, image.shape[:2], stored

    with ThreadPoolExecutor(threads or min(16, os.cpu_count() or 1)) as pool:
        results = pool.map(one, paths)
        if progress is not None:
            results = progress(results, len(paths))
        encoded = list(results)
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(e[0]) for e in encoded])
    box_code = {None: -1, **{b: i for i, b in enumerate(LSP_BOXES)}}
    meta = {"version": STORE_VERSION, "format": fmt, "quality": int(quality), "max_side": max_side, "key": key,
            "images": len(paths), "records": len(records)}  # fmt: skip
    arrays = {
        "blob": np.frombuffer(b"".join(e[0] for e in encoded), dtype=np.uint8),
        "offsets": offsets,
        "names": np.array([p.name for p in paths]),
        "orig_hw": np.array([e[1] for e in encoded], dtype=np.int32).reshape(-1, 2),
        "stored_hw": np.array([e[2] for e in encoded], dtype=np.int32).reshape(-1, 2),
        "rec_image": np.array([index[Path(r.image_path)] for r in records], dtype=np.int32),
        "rec_image_id": np.array([r.image_id for r in records], dtype=np.int64),
        "rec_center": np.stack([np.asarray(r.center, dtype=np.float64) for r in records]),
        "rec_scale": np.stack([np.asarray(r.scale, dtype=np.float64) for r in records]),
        "rec_joints": np.stack([np.asarray(r.joints, dtype=np.float64) for r in records]),
        "rec_score": np.array([r.score for r in records], dtype=np.float64),
        "rec_norm_length": np.array([r.norm_length for r in records], dtype=np.float64),
        "rec_box": np.array([box_code[r.box] for r in records], dtype=np.int8),
        "meta": np.array(json.dumps(meta)),
    }
    # the records (float64, each image's joints per box kind) shrink ~10x compressed
    return atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))


@dataclass
class StoreIndex:
    """A store as read from disk: the encoded images, their sizes and the training records."""

    path: Path
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.arrays["names"])

    @property
    def nbytes(self) -> int:
        return int(self.arrays["blob"].nbytes)

    def records(self) -> list[PersonRecord]:
        """The stored records as :class:`PersonRecord` (image paths are the stored file names, never read)."""
        a = self.arrays
        names = [Path(str(n)) for n in a["names"]]
        norm = a["rec_norm_length"] if "rec_norm_length" in a else a["rec_head_size"]  # stores built before the rename
        out = []
        for i in range(len(a["rec_image"])):
            box = None if a["rec_box"][i] < 0 else LSP_BOXES[int(a["rec_box"][i])]
            out.append(PersonRecord(names[int(a["rec_image"][i])], int(a["rec_image_id"][i]), a["rec_center"][i].copy(),
                                    a["rec_scale"][i].copy(), a["rec_joints"][i].copy(), float(a["rec_score"][i]),
                                    float(norm[i]), box))  # fmt: skip
        return out

    def decode(self, threads: int | None = None, progress: Callable[[Any, int], Any] | None = None) -> np.ndarray:
        """Every image decoded once into a zero-padded RGB canvas ``(N, H, W, 3)`` uint8 (image ``i`` at the top
        left, its size ``arrays["stored_hw"][i]``; the padding is zero, like the loader's crop border)."""
        a = self.arrays
        hw = a["stored_hw"]
        canvas = np.zeros((len(hw), int(hw[:, 0].max()), int(hw[:, 1].max()), 3), dtype=np.uint8)
        blob, offsets = a["blob"], a["offsets"]

        def one(i: int) -> None:
            img = cv2.imdecode(blob[offsets[i] : offsets[i + 1]], cv2.IMREAD_COLOR)
            if img is None or img.shape[:2] != tuple(hw[i]):
                raise DataError(f"stored image {i} ({a['names'][i]}) does not decode to its recorded size", self.path)
            cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=canvas[i, : hw[i, 0], : hw[i, 1]])

        with ThreadPoolExecutor(threads or min(16, os.cpu_count() or 1)) as pool:
            done = pool.map(one, range(len(hw)))
            if progress is not None:
                done = progress(done, len(hw))
            for _ in done:
                pass
        return canvas


def load_store(path: str | Path) -> StoreIndex:
    """Read a store's index (the encoded images stay encoded); a missing or foreign file raises DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no device store here (it is built from the training data when missing)", path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError) as exc:
        why = f"not a readable device store ({type(exc).__name__}: {exc}); delete it to rebuild"
        raise DataError(why, path) from None
    if meta.get("version") != STORE_VERSION:
        raise DataError(f"device store version {meta.get('version')} (this edgepose reads {STORE_VERSION}); delete "
                        "it to rebuild", path)  # fmt: skip
    return StoreIndex(path, meta, arrays)


def store_matches(path: str | Path, key: str) -> bool:
    """Whether ``path`` is a readable store built with ``key``."""
    try:
        return load_store(path).meta.get("key") == key
    except DataError:
        return False


__all__ = ["FORMATS", "StoreIndex", "build_store", "load_store", "store_key", "store_matches"]
