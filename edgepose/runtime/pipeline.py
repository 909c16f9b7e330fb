"""One per-image pipeline for every command: read -> boxes -> estimate -> draw -> record.

``edgepose predict``, ``edgepose demo`` and ``edgepose pck`` (and the quickstart's preview drawings) run images
through :class:`PosePipeline`, so they find, draw, describe and record people the same way:

* **boxes**: a box source (:mod:`edgepose.runtime.boxes`: detections file, HOG, a bottom-up model) or the whole
  image; bottom-up models find people themselves. A detector that finds nobody is *said*, per image; with
  ``fallback_whole_image`` the whole image is used instead (the demo), and that is said too.
* **estimate**: the :class:`~edgepose.runtime.estimator.PoseEstimator` (crop, flip test, refinement, decoding).
* **draw**: :func:`edgepose.vis.draw.draw_poses`; a pose whose every joint is below the drawing threshold is
  drawn *faintly* instead of not at all, and the per-image line says so (never a silent blank).
* **record**: :class:`ImageResult` is the one result of an image. :meth:`ImageResult.to_record` is the one JSON
  schema (below); :meth:`ImageResult.to_coco` the COCO keypoint-results view ``pycocotools`` reads.
  :class:`ResultsWriter` writes results whole and atomically, and only when it has something new to say, so a
  run that fails before its first image never replaces an earlier file.

The JSON schema of one image (``ImageResult.to_record``)::

    {"file": "a.jpg", "image_id": 785, "width": 640, "height": 480, "seconds": 0.031,
     "boxes": "image" | "hog" | "detections" | "detector" | "model" (bottom-up),
     "note": "" or what the line says beyond the count (e.g. "hog found nobody"),
     "people": [{"score": 0.71, "box": [x, y, w, h], "joints_drawn": 12,
                 "keypoints": [[x, y, score], ...]  # one row per keypoint name, image pixels
                }, ...]}

and of a results document (:meth:`PosePipeline.document`: ``demo``'s ``poses.json``, ``predict``'s
``RESULTS.meta.json``): ``{"format", "model", "model_name", "task", "keypoint_set", "keypoint_names",
"skeleton", "boxes", "flip_test", "refine", "threshold", "coco_offset", "seconds_per_image", "images": [...]}``
plus what the command adds (``source``). Every pose is recorded with its scores, drawn or not.

numpy + OpenCV only (no torch).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgepose.errors import ConfigError, DataError
from edgepose.io import PendingPath, atomic_write_image
from edgepose.runtime.poses import Person
from edgepose.runtime.preprocess import check_person_image
from edgepose.runtime.sources import Frame

RESULTS_FORMAT = "edgepose.poses/1"
DEFAULT_THRESHOLD = 0.3  # joint score to draw, every command's default
BoxSource = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]
WINDOW = "edgepose (q or Esc to stop)"


def joints_drawn(person: Person, threshold: float) -> int:
    """How many joints of ``person`` reach ``threshold`` (what :func:`~edgepose.vis.draw.draw_pose` draws)."""
    kp = np.asarray(person.keypoints, dtype=np.float64)
    return int(((kp[:, 2] >= threshold) & np.isfinite(kp[:, :2]).all(axis=1)).sum())


@dataclass
class ImageResult:
    """What the pipeline found in one image: the people, where their boxes came from, the time it took."""

    name: str
    index: int
    image_id: int
    width: int
    height: int
    persons: list[Person]
    seconds: float
    boxes: str
    threshold: float = DEFAULT_THRESHOLD
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def faint(self) -> list[Person]:
        """The poses with no joint at the drawing threshold (drawn faintly, and said)."""
        return [p for p in self.persons if joints_drawn(p, self.threshold) == 0]

    def summary(self) -> str:
        """``"1 person"``, ``"nobody found (hog found no person box)"``, ``"1 person: every joint below ..."``."""
        n = len(self.persons)
        if n == 0:
            return "nobody found" + (f" ({self.note})" if self.note else "")
        text = f"{n} {'person' if n == 1 else 'people'}"
        faint = self.faint
        if faint:
            best = max(float(np.nanmax(p.keypoints[:, 2])) if len(p.keypoints) else 0.0 for p in faint)
            who = ", but every joint is" if n == 1 else f" ({len(faint)} with every joint"
            text += (f"{who} below the drawing threshold {self.threshold:g} (best {best:.2f}): drawn faintly; "
                     f"--threshold {max(0.0, np.floor(best * 20) / 20):g} draws it" + ("" if n == 1 else ")"))
        if self.note:
            text += f" ({self.note})"
        return text

    def line(self) -> str:
        """The per-image line every command prints: name, size, what was found, time."""
        return f"{self.name:<32} {self.width}x{self.height:<5} {self.summary()}  {self.seconds * 1000:.1f} ms"

    def to_record(self) -> dict[str, Any]:
        """The one JSON schema of an image's result (see the module docstring)."""
        return {
            "file": self.name,
            "image_id": int(self.image_id),
            "width": int(self.width),
            "height": int(self.height),
            "seconds": round(float(self.seconds), 4),
            "boxes": self.boxes,
            "note": self.note,
            **self.extra,
            "people": [_person_record(p, self.threshold) for p in self.persons],
        }

    def to_coco(self, offset: float = 0.0) -> list[dict[str, Any]]:
        """COCO keypoint results of the image's people (``pycocotools`` ``loadRes``)."""
        return [p.to_coco(self.image_id, offset=offset) for p in self.persons]


def _person_record(person: Person, threshold: float) -> dict[str, Any]:
    kp = np.asarray(person.keypoints, dtype=np.float64)
    rows = [[_num(x, 1), _num(y, 1), _num(s, 3)] for x, y, s in kp[:, :3]]
    return {
        "score": _num(person.score, 4),
        "box": [_num(v, 1) for v in np.asarray(person.box, dtype=np.float64)],
        "joints_drawn": joints_drawn(person, threshold),
        "keypoints": rows,
        **({"track_id": int(person.track_id)} if person.track_id is not None else {}),
    }


def _num(value: float, digits: int) -> float | None:
    """A JSON-safe number: rounded, ``None`` for NaN/inf (strict JSON has neither)."""
    value = float(value)
    return round(value, digits) if np.isfinite(value) else None


class PosePipeline:
    """read -> boxes -> estimate -> draw -> record, for one image at a time.

    Args:
        estimator: a :class:`~edgepose.runtime.estimator.PoseEstimator`.
        box_source: top-down person boxes ``(image, image_id) -> (boxes, scores)``; ``None``: the whole image.
            Ignored by bottom-up models (they find people themselves).
        boxes: what ``box_source`` is, in the words the records use (``"hog"``, ``"detections"``, ...).
        fallback_whole_image: when the box source finds nobody, use the whole image (and say so) instead of
            reporting nobody.
        threshold: joint score to draw a joint; poses with none at it are drawn faintly and said.
        smoother: an optional :class:`~edgepose.runtime.smoothing.PoseSmoother` (videos).
        box_refine: refinement passes for the box source's boxes (``None``: the estimator's own); a detector's
            boxes are tight, so the CLI runs none there (:data:`~edgepose.runtime.boxes.DETECTOR_REFINE`) and the
            estimator's own passes on a whole-image box.
        draw_boxes: draw each person's box and score.
    """

    def __init__(
        self,
        estimator: Any,
        box_source: BoxSource | None = None,
        *,
        boxes: str | None = None,
        fallback_whole_image: bool = False,
        threshold: float = DEFAULT_THRESHOLD,
        smoother: Any = None,
        draw_boxes: bool = True,
        box_refine: int | None = None,
    ) -> None:
        if not np.isfinite(threshold) or threshold < 0:
            raise ConfigError(f"drawing threshold must be a finite number >= 0, got {threshold}")
        self.estimator = estimator
        self.topdown = estimator.task == "topdown"
        self.box_source = box_source if self.topdown else None
        self.boxes = ("detector" if box_source else "image") if boxes is None else boxes
        if not self.topdown:
            self.boxes = "model"
        self.fallback_whole_image = fallback_whole_image
        self.threshold = float(threshold)
        self.smoother = smoother
        self.draw_boxes = draw_boxes
        self.box_refine = box_refine

    # ------------------------------------------------------------------------------------ one image
    def __call__(
        self,
        image: np.ndarray,
        *,
        name: str = "image",
        index: int = 0,
        image_id: int | None = None,
        boxes: np.ndarray | None = None,
    ) -> ImageResult:
        """Boxes and poses of one BGR image (``boxes``: given person boxes, bypassing the box source)."""
        check_person_image(image, name)
        image_id = index if image_id is None else image_id
        t0 = time.perf_counter()
        kind, note = self.boxes, ""
        if not self.topdown:
            persons = self.estimator(image)
        else:
            scores = None
            if boxes is None and self.box_source is not None:
                boxes, scores = self.box_source(image, image_id)
                if len(boxes) == 0:
                    note = f"{kind} found no person box"
                    if self.fallback_whole_image:
                        boxes, scores, kind, note = None, None, "image", f"{note}: the whole image used"
            refine = self.box_refine if boxes is not None and kind != "given" else None
            extra = {} if refine is None else {"refine": refine}
            persons = self.estimator(image, boxes, scores, **extra) if boxes is None or len(boxes) else []
        if self.smoother is not None:
            persons = self.smoother(persons)
        seconds = time.perf_counter() - t0
        h, w = image.shape[:2]
        return ImageResult(name, index, int(image_id), w, h, list(persons), seconds, kind, self.threshold, note)

    def draw(self, image: np.ndarray, result: ImageResult, *, fps: float | None = None) -> np.ndarray:
        """The image with the result's skeletons (faint ones faintly) and, for video, an FPS overlay."""
        from edgepose.vis.draw import draw_fps, draw_poses

        canvas = draw_poses(image, result.persons, skeleton=self.estimator.draw_skeleton, threshold=self.threshold,
                            boxes=self.draw_boxes and result.boxes != "image")  # fmt: skip
        if fps is not None:
            draw_fps(canvas, fps)
        return canvas

    def run(
        self, frames: Iterable[Frame], image_ids: list[int] | None = None
    ) -> Iterator[tuple[Frame, ImageResult | None]]:
        """``(frame, result)`` per frame; ``result`` is None for a frame that cannot be used (unreadable, too
        small), with ``frame.error`` saying why, so a folder run reports and skips it."""
        for frame in frames:
            if frame.image is None:
                yield frame, None
                continue
            image_id = frame.index if image_ids is None else image_ids[frame.index]
            if frame.path is not None:  # a folder's image too small for a person: said and skipped, like unreadable
                try:
                    check_person_image(frame.image, frame.path)
                except DataError as exc:
                    frame.error = str(exc)
                    yield frame, None
                    continue
            yield frame, self(frame.image, name=frame.name, index=frame.index, image_id=image_id)

    # -------------------------------------------------------------------------------------- records
    def header(self, **extra: Any) -> dict[str, Any]:
        """What a results document says once: the model, its keypoint set, how boxes and poses were made."""
        est = self.estimator
        spec = est.keypoint_spec if self.topdown else _coco_spec()
        info = est.info
        return {
            "format": RESULTS_FORMAT,
            "model": extra.pop("model", info.model_name),
            "model_name": info.model_name,
            "task": est.task,
            "keypoint_set": spec.name,
            "keypoint_names": list(spec.names),
            "skeleton": [list(link) for link in est.draw_skeleton],
            "boxes": self.boxes,
            "flip_test": bool(est.flip_test) if self.topdown else bool(est.bottomup_flip),
            "refine": int(est.refine) if self.topdown else 0,  # on whole-image boxes
            "box_refine": None if self.box_refine is None or not self.topdown else int(self.box_refine),
            "threshold": self.threshold,
            "coco_offset": est.coco_offset,
            **extra,
        }

    def document(self, results: list[ImageResult], **extra: Any) -> dict[str, Any]:
        """The results document: :meth:`header` and every image's record."""
        seconds = [r.seconds for r in results]
        return {**self.header(**extra), "seconds_per_image": round(float(np.mean(seconds)), 4) if seconds else None,
                "images": [r.to_record() for r in results]}  # fmt: skip


def _coco_spec():
    from edgepose.keypoints import get_keypoint_spec

    return get_keypoint_spec("coco")  # bottom-up OpenPose-18 outputs are returned in COCO-17 order


def write_json(path: Path, payload: Any, *, indent: int | None = None) -> None:
    """Write ``payload`` to ``path`` atomically (never a half-written file, even on Ctrl-C)."""
    from edgepose.config import atomic_write_text

    try:
        atomic_write_text(path, json.dumps(payload, indent=indent, allow_nan=False))
    except OSError as exc:
        raise DataError(f"cannot write the results ({exc.strerror or exc})", path) from None


class ResultsWriter:
    """Results of a run, written whole and atomically, and only when there is something new to say.

    ``document`` gets :meth:`PosePipeline.document` (the one schema); ``coco`` (optional) the COCO keypoint
    results. Nothing is written until the first image's result arrives, so a run whose every image fails keeps
    an existing file as it was. :meth:`flush` rewrites both files when results were added since the last write
    (every ``every`` images from :meth:`add`, and at the end).
    """

    def __init__(
        self,
        pipeline: PosePipeline,
        document: Path | None,
        *,
        coco: Path | None = None,
        every: int = 0,
        indent: int | None = None,
        **extra: Any,
    ) -> None:
        self.pipeline, self.document_path, self.coco_path = pipeline, document, coco
        self.every, self.indent, self.extra = int(every), indent, extra
        self.results: list[ImageResult] = []
        self.written = 0

    def add(self, result: ImageResult) -> None:
        self.results.append(result)
        if self.every and len(self.results) % self.every == 0:
            self.flush()

    def flush(self) -> bool:
        """Write the files if results came in since the last write; True when it wrote."""
        if len(self.results) == self.written:
            return False
        if self.coco_path is not None:
            offset = self.pipeline.estimator.coco_offset
            write_json(self.coco_path, [rec for r in self.results for rec in r.to_coco(offset)])
        if self.document_path is not None:
            write_json(self.document_path, self.pipeline.document(self.results, **self.extra), indent=self.indent)
        self.written = len(self.results)
        return True


# ------------------------------------------------------------------------------------------ sinks
def write_image(path: Path, image: np.ndarray, quality: int = 90) -> None:
    """Encode ``image`` in the format of ``path``'s suffix (JPEG when unknown) and write it; DataError on failure."""
    suffix = path.suffix.lower() if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp") else ".jpg"
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in (".jpg", ".jpeg") else []
    try:
        atomic_write_image(path, image, params, ext=suffix)
    except ValueError:
        raise DataError("cannot encode the annotated image", path) from None
    except OSError as exc:
        raise DataError(f"cannot write the annotated image ({exc.strerror or exc})", path) from None


class VideoOut:
    """An mp4 (``mp4v``) writer opened on the first frame, so it knows the size.

    The frames go to a temporary beside ``path`` (:class:`edgepose.io.PendingPath`) that :meth:`close` finishes
    and moves into place: a run stopped with Ctrl-C (``close`` in a ``finally``) leaves a playable video of the
    frames so far, a killed one never a truncated file under ``path``.
    """

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps, self.writer = path, fps, None
        self.pending: PendingPath | None = None

    def write(self, image: np.ndarray) -> None:
        if self.writer is None:
            h, w = image.shape[:2]
            self.pending = PendingPath(self.path, suffix=self.path.suffix)  # the suffix picks the container
            writer = cv2.VideoWriter(str(self.pending.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not writer.isOpened():
                self.pending.discard()
                raise DataError("cannot open video writer (mp4v)", self.path)
            self.writer = writer
        self.writer.write(image)

    def close(self) -> None:
        if self.writer is not None and self.pending is not None:
            self.writer.release()
            self.writer = None
            self.pending.commit()


class Display:
    """An OpenCV window. Without a display, or with OpenCV built without GUI support (opencv-python-headless),
    a one-line error before any work, instead of a crash on the first frame."""

    def __init__(self, title: str = WINDOW) -> None:
        self.title = title
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise ConfigError("--show needs a display and this session has none ($DISPLAY is not set); "
                              "use --out DIR to write the drawings instead")  # fmt: skip
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise ConfigError("--show needs OpenCV with GUI support (this one has none, e.g. "
                              "opencv-python-headless); use --out DIR instead") from None  # fmt: skip

    def show(self, image: np.ndarray, wait_ms: int) -> bool:
        """Show ``image``; False when the user pressed q or Esc (stop)."""
        cv2.imshow(self.title, image)
        return (cv2.waitKey(wait_ms) & 0xFF) not in (ord("q"), 27)

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
        except cv2.error:  # pragma: no cover - the user closed it already
            pass
