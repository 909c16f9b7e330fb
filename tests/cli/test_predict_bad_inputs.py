"""`edgepose predict` on the bad inputs of issue 20's sweep: each is a one-line error naming the file or option,
or a correct result, and nothing already written is lost. Also: never a silent blank (a detector that finds
nobody is said per image). The model is the real shipped one (torch-free path), except for the NaN checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import cv2
import numpy as np
import pytest

from edgepose.assets import PHOTOS_DIR
from edgepose.cli.main import main

PHOTO = PHOTOS_DIR / "skier_785.jpg"
HOG_FINDS_NOBODY = PHOTOS_DIR / "skateboard_trick_431848.jpg"
FAST = ["--threads", "1", "--backend", "ort"]  # one thread, no back-end probe: these tests are about the inputs


def _one_line_error(capfd) -> str:
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.fixture
def photo(tmp_path):
    """A bundled photo under its COCO file name (id 785), so detections files can point at it."""
    path = tmp_path / "000000000785.jpg"
    shutil.copy(PHOTO, path)
    return path


def test_a_sliver_image_is_refused_and_skipped_in_a_folder(tmp_path, photo, capfd):
    sliver = tmp_path / "sliver.png"
    cv2.imwrite(str(sliver), np.full((4, 2000, 3), 128, np.uint8))
    assert main(["predict", *FAST, str(sliver), "--json", str(tmp_path / "r.json")]) == 2
    err = _one_line_error(capfd)
    assert str(sliver) in err and "2000x4 pixels, too small to hold a person" in err
    assert not (tmp_path / "r.json").exists()
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(sliver, folder / "000000000002.png")  # COCO names: the image ids are the numbers
    shutil.copy(photo, folder / photo.name)
    assert main(["predict", *FAST, str(folder), "--json", str(tmp_path / "f.json")]) == 1
    out, err = capfd.readouterr()
    assert "skipped" in err and str(folder / "000000000002.png") in err and "too small to hold a person" in err
    assert "1 of 2 images could not be used: 000000000002.png" in err
    assert re.search(r"000000000785\.jpg\s+512x340\s+1 person", out), out
    assert [r["image_id"] for r in json.loads((tmp_path / "f.json").read_text())] == [785]


def test_an_all_broken_folder_keeps_the_earlier_results(tmp_path, capfd):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"not a jpeg")
    (folder / "b.png").write_bytes(b"")
    results, meta = tmp_path / "r.json", tmp_path / "r.meta.json"
    results.write_text('[{"image_id": 1}]')
    meta.write_text('{"earlier": true}')
    assert main(["predict", *FAST, str(folder), "--json", str(results)]) == 1
    err = capfd.readouterr().err
    assert "2 of 2 images could not be used" in err and f"{results} left as it was" in err
    assert results.read_text() == '[{"image_id": 1}]' and meta.read_text() == '{"earlier": true}'


BAD_BOXES = {
    "strings": ({"bbox": ["10", "20", "100", "200"], "score": 0.9}, "bbox and score must be JSON numbers"),
    "nan score": ({"bbox": [10, 20, 100, 200], "score": float("nan")}, "score is nan (not a finite number)"),
}


@pytest.mark.parametrize("case", sorted(BAD_BOXES))
def test_detections_with_strings_or_a_nan_score_are_refused(tmp_path, photo, capfd, case):
    record, words = BAD_BOXES[case]
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 785, "category_id": 1, **record}]))  # json writes NaN as NaN
    assert main(["predict", *FAST, str(photo), "--boxes", str(dets), "--json", str(tmp_path / "r.json")]) == 2
    err = _one_line_error(capfd)
    assert str(dets) in err and "record 0" in err and words in err


def test_hog_says_per_image_when_it_finds_nobody(tmp_path, photo, capfd):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(HOG_FINDS_NOBODY, folder / "nobody.jpg")
    shutil.copy(photo, folder / "skier.jpg")
    assert main(["predict", *FAST, str(folder), "--detector", "hog", "--out", str(tmp_path / "vis")]) == 0
    out = capfd.readouterr().out
    assert re.search(r"nobody\.jpg\s+302x512\s+nobody found \(hog found no person box\)", out), out
    assert re.search(r"skier\.jpg\s+512x340\s+[1-9] (person|people)", out), out
    assert (tmp_path / "vis" / "nobody.jpg").is_file(), "the image is still written, and the line says why it is bare"


def test_refine_out_of_range_names_the_allowed_range(photo, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["predict", *FAST, str(photo), "--refine", "1000"])
    assert exc.value.code == 2
    assert "argument --refine: must be in 0..5" in capsys.readouterr().err


def test_a_url_keeps_its_slashes_and_wrong_kinds_of_path_are_named(tmp_path, photo, capfd):
    url = "rtsp://127.0.0.1:9/live.sdp"  # nothing listens on the discard port: refused at once, no network needed
    assert main(["predict", *FAST, url, "--json", str(tmp_path / "r.json")]) == 2
    err = _one_line_error(capfd)
    assert url in err and "cannot open the stream" in err
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.jpg")
        assert main(["predict", *FAST, str(tmp_path / "pipe.jpg")]) == 2
        assert "this is a named pipe" in _one_line_error(capfd)
    assert main(["predict", *FAST, str(photo), "--onnx", str(tmp_path)]) == 2
    err = _one_line_error(capfd)
    assert str(tmp_path) in err and "--onnx model must be a file, but this is a folder" in err
    assert main(["predict", *FAST, str(photo), "--detector", "bogus"]) == 2
    assert "--detector 'bogus'" in _one_line_error(capfd)


def test_a_checkpoint_with_nan_weights_is_refused_where_it_is_loaded(tmp_path, photo, capfd):
    torch = pytest.importorskip("torch")
    from edgepose.engine.checkpoint import model_info_record, save_checkpoint
    from edgepose.models import build_model

    model = build_model("flpn_sres50", keypoints="lsp", input_size=(64, 64), blocks=[1, 1, 1, 1], width=0.25,
                        deconv_channels=32)  # fmt: skip
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    ckpt = tmp_path / "nan.pt"
    save_checkpoint(ckpt, {"model": model.state_dict(), "model_name": model.model_name,
                           "model_overrides": dict(model.model_overrides), "model_info": model_info_record(model)})
    assert main(["predict", *FAST, str(photo), "--weights", str(ckpt), "--json", str(tmp_path / "r.json")]) == 2
    err = _one_line_error(capfd)
    assert str(ckpt) in err and "weights are not finite" in err
    assert not (tmp_path / "r.json").exists()
