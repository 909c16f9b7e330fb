"""The device store keeps each record's PCK normaliser, and reads stores written before it was renamed."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgepose.data.device_store import build_store, load_store
from edgepose.data.topdown import PersonRecord


def _records(tmp_path: Path) -> list[PersonRecord]:
    out = []
    for i, norm in enumerate((31.5, 0.0)):
        image = tmp_path / f"{i}.png"
        cv2.imwrite(str(image), np.full((30, 40, 3), 60 * i, np.uint8))
        joints = np.zeros((14, 3))
        out.append(PersonRecord(image, i + 1, np.zeros(2), np.zeros(2), joints, 1.0, norm, box="image"))
    return out


def test_records_come_back_with_their_norm_length_and_no_temporary_is_left(tmp_path):
    path = build_store(_records(tmp_path), tmp_path / "store" / "lsp.npz", fmt="png")
    assert [p.name for p in path.parent.iterdir()] == ["lsp.npz"]
    assert [r.norm_length for r in load_store(path).records()] == [31.5, 0.0]


def test_a_store_written_with_the_old_key_name_still_reads(tmp_path):
    path = build_store(_records(tmp_path), tmp_path / "lsp.npz", fmt="png")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["rec_head_size"] = arrays.pop("rec_norm_length")
    old = tmp_path / "old.npz"
    np.savez_compressed(old, **arrays)
    assert [r.norm_length for r in load_store(old).records()] == pytest.approx([31.5, 0.0])
