"""COCO keypoint evaluation: equality with pycocotools, OKS-NMS, rescoring, results files, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from coco_reference import PYCOCOTOOLS_SIGMAS, oks_by_hand, pycocotools_stats, simplebaseline_msra_oracle

from edgepose.cli.main import main
from edgepose.codecs.heatmap import HeatmapCodec
from edgepose.errors import ConfigError, DataError
from edgepose.evaluation.coco import STAT_NAMES, evaluate_keypoints, postprocess_instances, rescore, write_results
from edgepose.evaluation.oracle_topdown import oracle_instances
from edgepose.oks import oks_iou, oks_nms

VAL_ANN = "annotations/person_keypoints_val2017_mini.json"


def _noisy_results(ann_path: Path, seed: int = 0) -> list[dict]:
    """Ground-truth keypoints with pixel noise and random scores, as a results list."""
    data = json.loads(ann_path.read_text())
    rng = np.random.default_rng(seed)
    out = []
    for a in data["annotations"]:
        if a.get("iscrowd") or a.get("num_keypoints", 0) == 0:
            continue
        kp = np.array(a["keypoints"], dtype=float).reshape(17, 3)
        kp[:, :2] += rng.normal(0, 3, size=(17, 2))
        kp[:, 2] = 1
        out.append(
            {
                "image_id": a["image_id"],
                "category_id": 1,
                "keypoints": kp.reshape(-1).tolist(),
                "score": float(rng.uniform(0.3, 1)),
            }
        )
    return out


def _pycocotools(ann_path: Path, results_path: Path) -> np.ndarray:
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_path))
        dt = gt.loadRes(str(results_path))
        ev = COCOeval(gt, dt, iouType="keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def _oracle_predictions(ann_path: Path, noise: float, seed: int = 0) -> list[dict]:
    """Real top-down predictions: every val-mini person encoded and decoded by the MSRA codec, then rescored and
    OKS-NMSed as evaluation does; ``noise`` > 0 moves joints by that fraction of the person's crop size and adds
    a false positive for every third person, so the figures land mid-range where a wrong IoU type shows."""
    instances = oracle_instances(ann_path, HeatmapCodec(kind="msra"))
    rng = np.random.default_rng(seed)
    if noise > 0:
        extra = []
        for i, inst in enumerate(instances):
            kp = inst["keypoints"].copy()
            kp[:, :2] += rng.normal(0, noise * np.sqrt(inst["area"]), size=(len(kp), 2))
            kp[:, 2] *= rng.uniform(0.3, 1.0)
            inst["keypoints"] = kp
            if i % 3 == 0:
                ghost = kp.copy()
                ghost[:, :2] += rng.uniform(-80, 80, size=2)
                extra.append({**inst, "keypoints": ghost, "box_score": 0.4})
        instances += extra
    return postprocess_instances(instances)


def test_backends_give_identical_figures_on_real_predictions(coco_mini, tmp_path, capsys):
    """faster-coco-eval is only an option, and it must agree with pycocotools to the last digit: with the legacy
    ``useSegm = None`` it silently switched to box IoU (oracle AP 0.038 instead of 0.986)."""
    ann = coco_mini / VAL_ANN
    oracle = _oracle_predictions(ann, noise=0.0)
    noisy = _oracle_predictions(ann, noise=0.03)
    for records, lo, hi in ((oracle, 0.97, 1.0), (noisy, 0.2, 0.9)):  # oracle + rescoring + NMS: 0.9721 (*)
        ref = evaluate_keypoints(ann, records)
        fast = evaluate_keypoints(ann, records, backend="faster_coco_eval")
        assert (ref.backend, fast.backend) == ("pycocotools", "faster_coco_eval")
        assert [fast.metrics[k] for k in STAT_NAMES] == pytest.approx([ref.metrics[k] for k in STAT_NAMES], abs=1e-12)
        assert lo <= ref.metrics["AP"] <= hi, ref.metrics
    # (*) test_oracle_topdown.py checks that figure against SimpleBaseline's rescoring + OKS-NMS written out
    # the same through a file and the CLI, whose default is the reference
    path = write_results(noisy, tmp_path / "noisy.json")
    expected = _pycocotools(ann, path)
    for extra in ([], ["--backend", "faster_coco_eval"], ["--backend", "auto"]):
        assert main(["evaluate-results", "--ann", str(ann), "--results", str(path), "--json", *extra]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert [printed[k] for k in STAT_NAMES] == pytest.approx(list(expected), abs=1e-12)


def test_oracle_cli_prints_the_reference_ap_with_faster_coco_eval_installed(coco_mini, capsys):
    """The reference: the MSRA oracle written out from SimpleBaseline's code (tests/coco_reference.py), scored
    by pycocotools directly (0.9857)."""
    pytest.importorskip("faster_coco_eval")  # installed by the dev extra; what made the oracle print 0.038
    ann = coco_mini / VAL_ANN
    assert main(["oracle", "topdown", "--ann", str(ann), "--json"]) == 0
    reference = pycocotools_stats(ann, simplebaseline_msra_oracle(ann))["AP"]
    assert json.loads(capsys.readouterr().out)["AP"] == pytest.approx(reference, abs=1e-9)


def test_unknown_backend_is_a_config_error(coco_mini):
    with pytest.raises(ConfigError, match="unknown COCOeval backend 'cocoapi'"):
        evaluate_keypoints(coco_mini / VAL_ANN, _noisy_results(coco_mini / VAL_ANN)[:3], backend="cocoapi")


def test_duplicates_and_crowded_images_warn_once_naming_the_file(coco_mini, tmp_path, caplog):
    ann = coco_mini / VAL_ANN
    clean = _noisy_results(ann)
    path = write_results(clean, tmp_path / "clean.json")
    with caplog.at_level("WARNING", logger="edgepose.evaluation.coco"):
        evaluate_keypoints(ann, path)
    assert caplog.records == []
    first = clean[0]
    crowded = [
        {**first, "keypoints": [v + 1000 * (i + 1) * (j % 3 != 2) for j, v in enumerate(first["keypoints"])]}
        for i in range(22)
    ]  # 22 more detections on one image, far from anyone
    messy = [*clean, clean[1], clean[2], *crowded]
    path = write_results(messy, tmp_path / "messy.json")
    caplog.clear()
    with caplog.at_level("WARNING", logger="edgepose.evaluation.coco"):
        res = evaluate_keypoints(ann, path)
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "messy.json" in message and "2 duplicate record(s)" in message
    on_first = sum(r["image_id"] == first["image_id"] for r in messy)
    assert f"1 image(s) with more than 20 detections (up to {on_first} on image {first['image_id']};" in message
    assert res.num_results == len(clean) + 24


def test_equals_pycocotools_and_cli(coco_mini, tmp_path, capsys):
    ann = coco_mini / VAL_ANN
    results = tmp_path / "res.json"
    write_results(_noisy_results(ann), results)
    expected = _pycocotools(ann, results)
    res = evaluate_keypoints(ann, results, backend="pycocotools")
    assert [res.metrics[k] for k in STAT_NAMES] == pytest.approx(list(expected), abs=1e-12)
    assert 0.3 < res.metrics["AP"] < 1.0
    assert "Average Precision" in res.summary
    assert main(["evaluate-results", "--ann", str(ann), "--results", str(results), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [printed[k] for k in STAT_NAMES] == pytest.approx(list(expected), abs=1e-12)
    assert main(["evaluate-results", "--ann", str(ann), "--results", str(results)]) == 0
    assert "maxDets= 20" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, message",
    [
        ('[{"image_id": 785, "category_id": 1, "score": 1}]', "missing field 'keypoints'"),
        ('[{"image_id": 785, "keypoints": [1, 2, 3], "score": 1}]', "must be a list of 51 numbers"),
        ('[{"image_id": 1, "keypoints": ' + str([0] * 51) + ', "score": 1}]', "not an image of the annotation"),
        ('[{"image_id": 785, "keypoints": ' + str([0] * 51) + ', "score": NaN}]', "'score' must be a finite"),
        ('{"image_id": 785}', "must be a JSON list"),
        ('[{"image_id": 785, "keypoints": [', "malformed JSON"),
    ],
)
def test_malformed_results_one_line_error(coco_mini, tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(DataError, match=message):
        evaluate_keypoints(coco_mini / VAL_ANN, bad)
    assert main(["evaluate-results", "--ann", str(coco_mini / VAL_ANN), "--results", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.json" in err


def test_empty_results_score_zero(coco_mini):
    res = evaluate_keypoints(coco_mini / VAL_ANN, [])
    assert res.metrics["AP"] == 0 and res.num_results == 0


def _pose(x0: float, y0: float, conf: float = 0.9) -> np.ndarray:
    rng = np.random.default_rng(int(x0))
    xy = np.stack([x0 + rng.uniform(0, 60, 17), y0 + rng.uniform(0, 150, 17)], axis=1)
    return np.concatenate([xy, np.full((17, 1), conf)], axis=1)


def test_oks_nms_suppresses_duplicate_keeps_distinct():
    a = _pose(100, 100)
    dup = a.copy()
    dup[:, :2] += 1.0  # one pixel off: the same person
    other = _pose(400, 100)
    poses = np.stack([a, dup, other])
    keep = oks_nms(poses, np.array([0.8, 0.9, 0.7]), np.full(3, 150 * 200.0), threshold=0.9)
    assert keep == [1, 2]  # the better duplicate survives, the distinct person too
    assert oks_iou(a, dup[None], 30000, np.array([30000.0]))[0] > 0.9
    assert oks_iou(a, other[None], 30000, np.array([30000.0]))[0] < 0.01
    assert oks_nms(np.zeros((0, 17, 3)), np.zeros(0), np.zeros(0)) == []


def test_rescoring_uses_joints_above_threshold():
    kp = np.zeros((17, 3))
    kp[:4, 2] = [0.9, 0.5, 0.1, 0.3]
    assert rescore(kp, 0.5, 0.2) == pytest.approx(0.5 * np.mean([0.9, 0.5, 0.3]))
    assert rescore(np.zeros((17, 3)), 1.0) == 0.0
    inst = [
        {"image_id": 1, "keypoints": _pose(10, 10), "box_score": 1.0, "area": 30000.0},
        {"image_id": 1, "keypoints": _pose(10, 10, 0.5), "box_score": 1.0, "area": 30000.0},
    ]
    res = postprocess_instances(inst)
    assert len(res) == 1 and res[0]["score"] == pytest.approx(0.9)
    assert len(postprocess_instances(inst, nms=False)) == 2


def test_results_written_atomically(tmp_path):
    path = write_results([{"image_id": 1, "category_id": 1, "keypoints": [0] * 51, "score": 1.0}], tmp_path / "r.json")
    assert json.loads(path.read_text())[0]["image_id"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left behind


# ------------------------------------------------------------------------- a case small enough to do by hand
HIPS = [11, 12]  # COCO's left and right hip: sigma 0.107 each (pycocotools Params.setKpParams)


def _one_person_annotation(tmp_path: Path) -> tuple[Path, np.ndarray, float]:
    """One 640×480 image holding one standing person, 17 labelled joints, COCO area 10000 (a "large" person:
    above 96²)."""
    from standins import standing_person

    gt = standing_person(200, 240, 200, decimals=0)
    x0, y0 = gt[:, :2].min(axis=0) - 10
    x1, y1 = gt[:, :2].max(axis=0) + 10
    area = 10000.0
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": area, "num_keypoints": 17,
                         "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                         "keypoints": gt.ravel().tolist()}],
        "categories": [{"id": 1, "name": "person"}],
    }  # fmt: skip
    path = tmp_path / "one_person.json"
    path.write_text(json.dumps(data))
    return path, gt, area


def _result(kp: np.ndarray, score: float) -> dict:
    return {"image_id": 1, "category_id": 1, "keypoints": kp.ravel().tolist(), "score": score}


@pytest.mark.parametrize(
    ("hip_term", "with_false_positive", "expected_ap", "expected_ar"),
    [
        # hips moved so that each scores exp(-e) = 1/2: OKS = (15 + 2 · 0.5) / 17 = 0.941, a match at the
        # thresholds 0.50 .. 0.90 (9 of 10) but not 0.95; one detection, one person: precision 1 -> AP = 0.9
        (0.5, False, 0.9, 0.9),
        # the same, after a higher-scored detection of nobody: precision 1/2 at recall 1 -> AP = 0.45
        (0.5, True, 0.45, 0.9),
        # hips far off (exp(-e) ~ 0): OKS = 15 / 17 = 0.882, matches at 0.50 .. 0.85 (8 of 10) -> AP = 0.8
        (1e-9, False, 0.8, 0.8),
        # every joint exact: OKS = 1 matches at every threshold
        (1.0, False, 1.0, 1.0),
    ],
)
def test_ap_of_a_hand_computed_case(tmp_path, hip_term, with_false_positive, expected_ap, expected_ar):
    """AP derived by hand from COCO's OKS definition and the 10 thresholds 0.50:0.05:0.95, against edgepose's
    evaluation and pycocotools run directly."""
    ann, gt, area = _one_person_annotation(tmp_path)
    # exp(-d² / (2 · area · (2σ)²)) = hip_term  <=>  d = sqrt(-2 · area · (2σ)² · ln(hip_term))
    d = np.sqrt(-2 * area * (2 * 0.107) ** 2 * np.log(hip_term))
    det = gt.copy()
    det[HIPS, 0] += d
    oks = (15 + 2 * hip_term) / 17
    assert oks_by_hand(gt, det, area) == pytest.approx(oks, abs=1e-12)
    records = [_result(det, 0.8)]
    if with_false_positive:
        ghost = gt.copy()
        ghost[:, 0] += 300  # a whole person width away: OKS with the person ~0
        records.append(_result(ghost, 0.9))
    hand = {"AP": expected_ap, "AR": expected_ar, "APL": expected_ap, "ARL": expected_ar, "APM": -1.0,
            "AP50": 1.0 / (1 + with_false_positive), "AR50": 1.0}  # fmt: skip
    got = evaluate_keypoints(ann, records).metrics
    assert {k: got[k] for k in hand} == pytest.approx(hand, abs=1e-12)
    assert {k: pycocotools_stats(ann, records)[k] for k in hand} == pytest.approx(hand, abs=1e-12)


def test_coco_sigmas_are_the_published_ones():
    """edgepose's OKS (NMS, the oracle) and pycocotools' must weigh joints alike."""
    from pycocotools.cocoeval import Params

    from edgepose.keypoints import COCO_SIGMAS

    np.testing.assert_allclose(np.asarray(COCO_SIGMAS), PYCOCOTOOLS_SIGMAS, atol=1e-12)
    np.testing.assert_allclose(Params(iouType="keypoints").kpt_oks_sigmas, PYCOCOTOOLS_SIGMAS, atol=1e-12)
