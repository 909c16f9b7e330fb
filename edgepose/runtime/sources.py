"""Frames to predict on: one image, a folder of images, a video file or a camera, behind one interface.

:func:`open_source` picks the kind from the argument (a digit string is a camera index; a folder; a file with an
image or video extension). Iterating a source yields :class:`Frame` objects (BGR uint8 image, a name, an index);
images of a folder that cannot be read are yielded as frames with ``image=None`` and ``error`` set, so a long
folder run reports and skips them instead of stopping. Problems users can cause (missing path, unreadable single
image, a video with no frames, a camera that does not open) raise :class:`~edgepose.errors.DataError` naming
the path; an existing path of the wrong kind (a named pipe, a device) is named as what it is, never "not
found" (:mod:`edgepose.pathkind`). A URL (``rtsp://``, ``http://`` ...) is opened as a video stream by OpenCV
and reported exactly as given.

OpenCV only.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgepose.errors import DataError
from edgepose.pathkind import path_kind, require_file
from edgepose.runtime.preprocess import check_person_image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass
class Frame:
    image: np.ndarray | None  # BGR uint8, None when unreadable
    name: str  # file name for images, "<stem>_000042" for video frames
    index: int  # running index from 0
    path: Path | None = None
    error: str | None = None


def read_image_bgr(path: str | Path) -> np.ndarray:
    """Read an image as BGR uint8; a missing or undecodable file raises DataError naming it."""
    path = require_file(path, "image")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise DataError("cannot decode image (corrupt or not an image)", path)
    return image


def coco_image_id(name: str) -> int | None:
    """COCO file names carry their id: ``000000000785.jpg`` -> 785, ``COCO_val2014_000000000192.jpg`` -> 192."""
    m = re.search(r"(\d+)$", Path(name).stem)
    return int(m.group(1)) if m else None


class ImageSource:
    kind = "image"

    def __init__(self, paths: list[Path], root: Path, *, first_image: np.ndarray | None = None) -> None:
        self.paths = paths
        self.root = root
        self.fps = None
        self._first_image = first_image  # already read by open_source; not read twice

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Frame]:
        for i, path in enumerate(self.paths):
            image, error = self._first_image if i == 0 else None, None
            self._first_image = None
            if image is None:
                try:
                    image = read_image_bgr(path)
                except DataError as exc:
                    if self.kind == "image":
                        raise
                    error = str(exc)
            yield Frame(image, path.name, i, path, error=error)

    def image_ids(self) -> list[int]:
        """COCO ids from the file names when all of them carry a distinct one, else the running index."""
        ids = [coco_image_id(p.name) for p in self.paths]
        if all(i is not None for i in ids) and len(set(ids)) == len(ids):
            return ids  # type: ignore[return-value]
        return list(range(len(self.paths)))


class FolderSource(ImageSource):
    kind = "folder"


@contextlib.contextmanager
def _stderr_silenced():
    """Silence file descriptor 2 (FFmpeg's and OpenCV's C-level warnings) for the duration."""
    fd = 2
    sys.stderr.flush()
    try:
        saved, devnull = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no stderr at all (daemons): nothing to silence
        yield
        return
    os.dup2(devnull, fd)
    try:
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def _quiet_capture(target: str | int) -> cv2.VideoCapture:
    """``cv2.VideoCapture`` without OpenCV's / FFmpeg's own warnings on stderr: our error says what failed."""
    with _stderr_silenced():
        return cv2.VideoCapture(target)


class VideoSource:
    """Frames of a video file (``kind="video"``) or a camera (``kind="camera"``)."""

    def __init__(self, target: str | int, *, max_frames: int | None = None) -> None:
        self.target = target
        self.kind = "camera" if isinstance(target, int) else "video"
        self.max_frames = max_frames
        url = isinstance(target, str) and URL.match(target)
        self.stem = f"camera{target}" if self.kind == "camera" else ("stream" if url else Path(target).stem)
        cap = _quiet_capture(target)
        if not cap.isOpened():
            cap.release()
            if self.kind == "camera":
                raise DataError(f"camera {target} is not available (no device, or it is busy)")
            if isinstance(target, str) and URL.match(target):
                raise DataError("cannot open the stream (unreachable, or not a video stream OpenCV reads; download "
                                "an image or video first)", target)  # fmt: skip
            raise DataError("cannot open video (missing codec, corrupt or not a video)", target)
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        if not (0 < self.fps < 1000):
            self.fps = 25.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 and self.kind == "video" else None
        self._cap = cap

    def __len__(self) -> int:
        n = self.frame_count or 0
        return min(n, self.max_frames) if self.max_frames else n

    def __iter__(self) -> Iterator[Frame]:
        cap, self._cap = self._cap, None
        if cap is None:
            cap = _quiet_capture(self.target)
        i = 0
        try:
            while self.max_frames is None or i < self.max_frames:
                ok, image = cap.read()
                if not ok or image is None:
                    break
                yield Frame(image, f"{self.stem}_{i:06d}", i)
                i += 1
        finally:
            cap.release()
        if i == 0:
            what = f"camera {self.target}" if self.kind == "camera" else "video"
            where = None if self.kind == "camera" else self.target
            raise DataError(f"{what} produced no frames (empty or unreadable)", where)

    def image_ids(self) -> list[int]:
        return list(range(len(self)))


def open_source(source: str | Path, *, max_frames: int | None = None) -> ImageSource | VideoSource:
    """The frame source for a CLI ``SOURCE`` argument: camera index, folder, image or video file."""
    text = str(source)
    if text.isdigit() and not Path(text).exists():
        return VideoSource(int(text), max_frames=max_frames)
    if URL.match(text):  # never through Path: it would fold "http://" into "http:/"
        return VideoSource(text, max_frames=max_frames)
    path = Path(text)
    kind = path_kind(path)
    if kind is None:
        raise DataError("no such file or folder", text)
    if not (path.is_dir() or path.is_file()):
        raise DataError(f"this is {kind}, not an image, a video or a folder", text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise DataError(f"folder has no images ({', '.join(IMAGE_EXTENSIONS)})", path)
        if max_frames:
            files = files[:max_frames]
        return FolderSource(files, path)
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return VideoSource(str(path), max_frames=max_frames)
    if suffix in IMAGE_EXTENSIONS:
        # read now so an unreadable (or too small) image fails with its name before any model is built
        image = check_person_image(read_image_bgr(path), path)
        return ImageSource([path], path.parent, first_image=image)
    raise DataError(
        f"unknown file type {suffix or '(none)'!r}; expected an image ({', '.join(IMAGE_EXTENSIONS)}), "
        f"a video ({', '.join(VIDEO_EXTENSIONS)}), a folder or a camera index",
        path,
    )
