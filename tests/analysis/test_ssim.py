"""SSIM of feature maps and the ratio recommendation (edgepose.analysis.ssim, `edgepose ssim`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgepose.analysis.ssim import (
    analyze_model,
    channel_pair_ssim,
    fit_window,
    normalize_maps,
    num_pairs,
    pair_from_index,
    parse_bands,
    recommend_ratio,
    recommendation,
    resolve_layers,
    sample_pairs,
    ssim,
    stage_similarity,
    summarize,
)
from edgepose.errors import ConfigError


def reference_ssim(a: np.ndarray, b: np.ndarray, size: int = 11, sigma: float = 1.5, L: float = 1.0) -> float:
    """Wang et al.'s SSIM, written independently with explicit loops over every window position that fits."""
    ax = np.arange(size) - (size - 1) / 2
    g = np.exp(-(ax**2) / (2 * sigma**2))
    w = np.outer(g, g)
    w /= w.sum()
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    vals = []
    for y in range(a.shape[0] - size + 1):
        for x in range(a.shape[1] - size + 1):
            pa, pb = a[y : y + size, x : x + size], b[y : y + size, x : x + size]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
            cov = (w * (pa - ma) * (pb - mb)).sum()
            vals.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_a_map_with_itself_is_one() -> None:
    a = torch.rand(64, 64, generator=torch.Generator().manual_seed(0))
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-5)
    batch = torch.rand(5, 20, 30)
    assert torch.allclose(ssim(batch, batch), torch.ones(5), atol=1e-5)


def test_independent_noise_is_near_zero() -> None:
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        a, b = torch.rand(64, 64, generator=g), torch.rand(64, 64, generator=g)
        assert abs(float(ssim(a, b))) < 0.05


def test_matches_an_independent_reference() -> None:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:28, 0:24] / 10.0
    a = 0.5 + 0.4 * np.sin(xx + yy) + 0.05 * rng.standard_normal((28, 24))
    b = 0.5 + 0.3 * np.sin(1.2 * xx + 0.9 * yy) + 0.1 * rng.standard_normal((28, 24))
    ref = reference_ssim(a, b)
    got = float(ssim(torch.from_numpy(a), torch.from_numpy(b)))
    assert got == pytest.approx(ref, abs=1e-9)
    assert 0.05 < ref < 0.95  # a non-trivial value
    got32 = float(ssim(torch.from_numpy(a).float(), torch.from_numpy(b).float()))
    assert got32 == pytest.approx(ref, abs=1e-4)


def test_small_maps_shrink_the_window() -> None:
    assert fit_window(64, 48) == (11, 1.5)
    size, sigma = fit_window(8, 6)
    assert size == 5 and sigma == pytest.approx(1.5 * 5 / 11)
    assert fit_window(4, 3)[0] == 3
    a = torch.rand(4, 3)
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-5)
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 6)), rng.random((8, 6))
    assert float(ssim(torch.from_numpy(x), torch.from_numpy(y))) == pytest.approx(
        reference_ssim(x, y, 5, 1.5 * 5 / 11), abs=1e-9
    )


def test_channel_pairs_match_pairwise_ssim_on_normalised_maps() -> None:
    feats = torch.randn(6, 16, 12) * torch.arange(1, 7).view(6, 1, 1) + 3.0
    pairs = [(0, 1), (2, 5), (3, 4), (1, 1)]
    got = channel_pair_ssim(feats, pairs)
    norm, const = normalize_maps(feats)
    assert not const.any() and float(norm.min()) == 0.0 and float(norm.max()) == 1.0
    want = torch.stack([ssim(norm[i], norm[j]) for i, j in pairs])
    assert torch.allclose(got, want, atol=1e-5)
    assert float(got[3]) == pytest.approx(1.0, abs=1e-5)


def test_constant_maps_are_handled() -> None:
    feats = torch.rand(4, 16, 16)
    feats[1] = 0.0  # a dead ReLU channel
    feats[2] = 7.5
    vals = channel_pair_ssim(feats, [(1, 2), (0, 1)])
    assert torch.isfinite(vals).all()
    assert float(vals[0]) == pytest.approx(1.0)  # two constant maps are identical after normalisation
    assert abs(float(vals[1])) < 0.05
    _, const = stage_similarity(feats, None)
    assert const == pytest.approx(0.5)


def test_copied_channels_give_the_highest_ratio_and_random_ones_the_lowest() -> None:
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 24, 24, generator=g)
    copies = base * torch.rand(32, 1, 1, generator=g) * 5 + torch.randn(32, 1, 1, generator=g)
    random = torch.rand(32, 24, 24, generator=g)
    v_copy, _ = stage_similarity(copies, None)
    v_rand, _ = stage_similarity(random, None)
    assert recommend_ratio(float(v_copy.mean())) == 16
    assert recommend_ratio(float(v_rand.mean())) == 2


def test_recommend_ratio_bands() -> None:
    assert [recommend_ratio(x) for x in (0.0, 0.249, 0.25, 0.49, 0.5, 0.74, 0.75, 1.0)] == [2, 2, 4, 4, 8, 8, 16, 16]
    assert recommend_ratio(0.3, [0.2, 0.4], [1, 3, 9]) == 3
    assert recommend_ratio(0.3, {0.1: 2, 0.2: 4, math.inf: 8}) == 8
    assert parse_bands("0.1,0.2", "2,4,8") == ((0.1, 0.2), (2, 4, 8))
    with pytest.raises(ConfigError):
        parse_bands("0.5,0.2")
    with pytest.raises(ConfigError):
        parse_bands("0.1,0.2", "2,4")
    with pytest.raises(ValueError):
        recommend_ratio(float("nan"))


def test_pair_sampling_is_deterministic_distinct_and_ordered() -> None:
    for n in (2, 3, 7, 50):
        allp = sample_pairs(n, None, np.random.default_rng(0))
        assert [tuple(p) for p in allp] == [(i, j) for i in range(n) for j in range(i + 1, n)]
    n = 2048
    a = sample_pairs(n, 500, np.random.default_rng(5))
    b = sample_pairs(n, 500, np.random.default_rng(5))
    c = sample_pairs(n, 500, np.random.default_rng(6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert len({tuple(p) for p in a}) == 500
    assert np.all(a[:, 0] < a[:, 1]) and a.max() < n
    k = np.random.default_rng(0).choice(num_pairs(n), 1000, replace=False)
    i, j = pair_from_index(k, n).T
    assert np.array_equal(i * n - i * (i + 1) // 2 + (j - i - 1), k)


class _Toy(nn.Module):
    """A model with four stages whose layer3 copies one channel (maximal redundancy)."""

    def __init__(self) -> None:
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 1, 1))
        self.layer2 = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1))
        self.layer3 = nn.Conv2d(16, 1, 3, 1, 1)
        self.layer4 = nn.Conv2d(16, 12, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer2(self.layer1(x))
        copies = self.layer3(y).expand(-1, 12, -1, -1)
        return self.layer4(y) + copies.mean()


def test_analyze_model_collects_every_stage_and_is_reproducible() -> None:
    model = _Toy()
    layers = resolve_layers(model)
    assert list(layers) == ["layer1", "layer2", "layer3", "layer4"]
    per_module = resolve_layers(model, per_module=True)
    assert "layer1.0" in per_module and "layer1.2" in per_module and "layer3" in per_module
    images = [torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    stats = analyze_model(model, images, layers, pairs=20, seed=1)
    again = analyze_model(model, images, layers, pairs=20, seed=1)
    assert [s.name for s in stats] == list(layers)
    for s, t in zip(stats, again):
        assert len(s.values) == 6 and np.array_equal(s.all_values, t.all_values)
    assert stats[0].channels == 8 and (stats[0].height, stats[0].width) == (16, 16)
    assert stats[2].all_values.size == 0 or stats[2].channels == 1  # one channel: no pairs
    summaries = summarize(stats)
    assert summaries[0]["pairs"] == 6 * 20
    assert sum(summaries[0]["histogram"]["counts"]) == 120
    assert summaries[0]["recommended_ratio"] in (2, 4, 8, 16)
    with pytest.raises(ConfigError, match="nope"):
        resolve_layers(model, ["nope"])


def test_recommended_override_builds_flpn() -> None:
    from edgepose.models import build_model

    summaries = [{"recommended_ratio": r} for r in (2, 8, 4, 16)]
    rec = recommendation(summaries, "flpn_sres50")
    assert rec["ratios"] == [2, 8, 4, 16]
    assert rec["yaml"] == "model: {name: flpn_sres50, overrides: {ratios: [2, 8, 4, 16]}}"
    assert rec["set"] == "--set 'ratios=[2,8,4,16]'"
    paper = recommendation(summaries, "flpn_sres50", fixed={2: 2, 3: 2})
    assert paper["ratios"] == [2, 8, 2, 2]
    small = build_model("flpn_sres50", ratios=rec["ratios"])
    shipped = build_model("flpn_sres50", ratios=paper["ratios"])
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(small) < n(shipped)  # larger ratios in late stages -> fewer parameters


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgepose.data.synthetic import SynthConfig, generate_dataset

    out = tmp_path_factory.mktemp("ssim_imgs")
    generate_dataset(out, SynthConfig(images=3, seed=0, width=96, height=64, val_fraction=0.0))
    return out


@pytest.mark.slow
def test_cli_analysis_prints_stages_and_a_buildable_recommendation(
    image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from edgepose.cli.main import main

    plot = tmp_path / "ssim.png"
    rc = main(["ssim", "flpn_sres50", "--images", str(image_dir / "images"), "--max-images", "2", "--pairs", "30",
               "--input-size", "64", "48", "--json", "--plot", str(plot)])  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in out["stages"]] == ["layer1", "layer2", "layer3", "layer4"]
    assert out["stages"][0]["shape"] == [256, 16, 12]
    assert all(s["pairs"] == 60 for s in out["stages"])
    rec = out["recommended"]
    assert len(rec["ratios"]) == 4 and set(rec["ratios"]) <= {2, 4, 8, 16}
    assert out["recommended_paper_protocol"]["ratios"][2:] == [2, 2]
    assert rec["complexity"].get("params", 0) > 0 or "note" in rec["complexity"]
    assert plot.is_file() and plot.stat().st_size > 1000


@pytest.mark.slow
def test_cli_analysis_on_coco_person_crops(image_dir: Path, capsys: pytest.CaptureFixture) -> None:
    from edgepose.cli.main import main

    ann = image_dir / "annotations" / "person_keypoints_train.json"
    rc = main(["ssim", "flpn_sres50", "--data", str(ann), "--image-root", str(image_dir / "images"),
               "--max-images", "2", "--pairs", "10", "--input-size", "64", "48"])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "2 person crops" in text and "layer4" in text and "--set 'ratios=[" in text


def test_cli_rejects_mixed_options(image_dir: Path, capsys: pytest.CaptureFixture) -> None:
    from edgepose.cli.main import main

    assert main(["ssim", "flpn_sres50"]) == 2
    assert main(["ssim", "flpn_sres50", "--images", str(image_dir), "--grid", "2,8"]) == 2
    assert main(["ssim", "sweep"]) == 2
    assert main(["ssim", "sweep", "x.yaml", "--pairs", "5"]) == 2
    err = capsys.readouterr().err
    assert "sweep option" in err and "analysis option" in err
