"""``--fast`` in predict, demo and pck: the fast mode's option values, and options that contradict it refused."""

from __future__ import annotations

import json

import pytest

from edgepose.cli.main import main


@pytest.mark.parametrize("argv, clash", [
    (["predict", "PHOTO", "--fast", "--detector", "hog"], "--detector"),
    (["predict", "PHOTO", "--fast", "--refine", "1"], "--refine"),
    (["demo", "--fast", "--detector", "default"], "--detector"),
    (["pck", "--root", "ROOT", "--fast", "--box", "joints"], "--box"),
])  # fmt: skip
def test_fast_with_a_contradicting_option_is_one_line(argv, clash, tmp_path, capfd):
    from edgepose.assets import demo_photos

    argv = [str(demo_photos()[0]) if a == "PHOTO" else str(tmp_path) if a == "ROOT" else a for a in argv]
    assert main([*argv, "--out", str(tmp_path / "out")] if argv[0] != "pck" else argv) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--fast" in err[0] and clash in err[0], err
    assert not (tmp_path / "out").exists(), "nothing written"


def test_predict_fast_runs_the_int8_file_on_the_whole_image(tmp_path, capsys):
    from edgepose.assets import demo_photos

    photo = demo_photos()[-1]
    out = tmp_path / "r.json"
    assert main(["predict", str(photo), "--fast", "--json", str(out)]) == 0
    meta = json.loads(out.with_name("r.meta.json").read_text())
    assert meta["model"].endswith("fast.int8.onnx"), meta["model"]
    assert meta["boxes"] == "image" and meta["flip_test"] is False and meta["refine"] == 0
    (image,) = meta["images"]
    (person,) = image["people"]  # the whole image is one person's box
    assert person["box"] == [0.0, 0.0, float(image["width"]), float(image["height"])]
