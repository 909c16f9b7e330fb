"""SSIM redundancy analysis of feature maps: the measurement FLPN uses to choose its Smart-module ratios.

FLPN (Sections II-E, III-A, V-B-3) takes two channels of one image's feature maps, computes their structural
similarity (SSIM, Wang et al. 2004) and reads a high similarity as redundancy: a stage whose channels look
alike can be built from fewer intrinsic maps, i.e. a larger ratio ``t`` (intrinsic = outputs / t). The paper
gives no thresholds; this module measures the per-stage similarity and maps it to ``t`` by configurable bands.

SSIM here is the standard one, written once in torch:

* Gaussian window of size 11 and sigma 1.5, "valid" filtering (the mean over the window positions that fit
  the map, as skimage's ``structural_similarity(gaussian_weights=True, use_sample_covariance=False)``);
* ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2`` with ``L = data_range``;
* maps smaller than the window use the largest odd window that fits, with sigma scaled by the same factor
  (deep stages are 8x6 at 256x192 input).

Feature maps are not images: each channel map is first normalised to ``[0, 1]`` by its own min and max (so
``L = 1``). A constant channel (a dead ReLU, common in deep stages) normalises to all zeros; two constant
channels are then identical (SSIM 1: they are redundant) and a constant channel against a structured one
scores near 0. The fraction of constant channels is reported alongside.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.25, 0.5, 0.75)
DEFAULT_RATIOS: tuple[int, ...] = (2, 4, 8, 16)
HIST_BINS = 40
HIST_RANGE = (-1.0, 1.0)


# --------------------------------------------------------------------------------------------- the SSIM
def gaussian_window(size: int = 11, sigma: float = 1.5, *, device: Any = None, dtype: Any = None) -> torch.Tensor:
    """A normalised 2-D Gaussian window ``(size, size)``."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    w = torch.outer(g, g)
    return w.to(device=device, dtype=dtype or torch.float32)


def fit_window(height: int, width: int, window_size: int = 11, sigma: float = 1.5) -> tuple[int, float]:
    """The window used on an ``height x width`` map: ``window_size`` if it fits, else the largest odd size that
    does, with sigma scaled by the same factor."""
    size = min(window_size, height, width)
    if size % 2 == 0:
        size -= 1
    size = max(size, 1)
    return size, sigma * size / window_size


def _band(n: int, g: torch.Tensor) -> torch.Tensor:
    """``(n, n - k + 1)`` matrix whose column ``c`` holds the 1-D window ``g`` at rows ``c .. c + k - 1``."""
    k = g.shape[0]
    m = torch.zeros(n, n - k + 1, dtype=g.dtype, device=g.device)
    for c in range(n - k + 1):
        m[c : c + k, c] = g
    return m


def _filter(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Valid 2-D filtering of ``(N, H, W)`` maps with a separable ``(k, k)`` window, as two matrix products
    (much faster on CPUs than a one-channel convolution)."""
    g = window.sum(1)  # the 1-D Gaussian (the 2-D window is its outer product)
    g = g / g.sum()
    h, w = x.shape[-2], x.shape[-1]
    return _band(h, g).T @ x @ _band(w, g)


def ssim(
    a: torch.Tensor,
    b: torch.Tensor,
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
) -> torch.Tensor:
    """Mean SSIM of ``a`` and ``b``: ``(H, W)`` -> scalar, ``(N, H, W)`` or ``(N, 1, H, W)`` -> ``(N,)`` per pair.

    Inputs are used as they are (no normalisation; see :func:`normalize_maps`); computed in float32 (float64
    inputs stay float64).
    """
    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    squeeze = a.dim() == 2
    if a.dim() == 4:
        if a.shape[1] != 1:
            raise ValueError(f"ssim: 4-D inputs must be (N, 1, H, W), got {tuple(a.shape)}")
        a, b = a[:, 0], b[:, 0]
    elif squeeze:
        a, b = a[None], b[None]
    elif a.dim() != 3:
        raise ValueError(f"ssim: expected (H, W), (N, H, W) or (N, 1, H, W), got {tuple(a.shape)}")
    dtype = a.dtype if a.dtype in (torch.float32, torch.float64) else torch.float32
    a, b = a.to(dtype), b.to(dtype)
    size, sig = fit_window(a.shape[-2], a.shape[-1], window_size, sigma)
    w = gaussian_window(size, sig, device=a.device, dtype=dtype)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = _filter(a, w), _filter(b, w)
    var_a = _filter(a * a, w) - mu_a**2
    var_b = _filter(b * b, w) - mu_b**2
    cov = _filter(a * b, w) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    out = s.flatten(1).mean(1)
    return out[0] if squeeze else out


def normalize_maps(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Min-max normalise each ``(H, W)`` map of ``(C, H, W)`` to ``[0, 1]``; constant maps become 0.

    Returns the maps and a boolean ``(C,)`` mask of the constant channels.
    """
    f = features.detach().float()
    flat = f.flatten(1)
    lo = flat.min(1).values
    hi = flat.max(1).values
    rng = hi - lo
    const = rng <= 1e-12 * torch.clamp(hi.abs(), min=1.0)
    scale = torch.where(const, torch.ones_like(rng), rng)
    out = (f - lo[:, None, None]) / scale[:, None, None]
    out[const] = 0.0
    return out, const


def channel_pair_ssim(
    features: torch.Tensor,
    pairs: torch.Tensor | np.ndarray | Sequence[tuple[int, int]],
    *,
    window_size: int = 11,
    sigma: float = 1.5,
    normalize: bool = True,
    chunk: int = 4096,
) -> torch.Tensor:
    """SSIM of channel pairs of one image's feature maps: ``features (C, H, W)``, ``pairs (P, 2)`` -> ``(P,)``.

    Channels are min-max normalised first (``normalize=True``, L = 1). The per-channel window means and
    variances are computed once; only the cross terms are computed per pair, in chunks of ``chunk`` pairs.
    """
    if features.dim() != 3:
        raise ValueError(f"channel_pair_ssim: features must be (C, H, W), got {tuple(features.shape)}")
    x, _ = normalize_maps(features) if normalize else (features.float(), None)
    p = torch.as_tensor(np.asarray(pairs), dtype=torch.long, device=x.device).reshape(-1, 2)
    if p.numel() == 0:
        return x.new_zeros(0)
    size, sig = fit_window(x.shape[-2], x.shape[-1], window_size, sigma)
    w = gaussian_window(size, sig, device=x.device, dtype=x.dtype)
    c1, c2 = 0.01**2, 0.03**2
    mu = _filter(x, w)
    var = _filter(x * x, w) - mu**2
    out = []
    for start in range(0, p.shape[0], chunk):
        i, j = p[start : start + chunk, 0], p[start : start + chunk, 1]
        cov = _filter(x[i] * x[j], w) - mu[i] * mu[j]
        s = ((2 * mu[i] * mu[j] + c1) * (2 * cov + c2)) / ((mu[i] ** 2 + mu[j] ** 2 + c1) * (var[i] + var[j] + c2))
        out.append(s.flatten(1).mean(1))
    return torch.cat(out)


# ------------------------------------------------------------------------------------------------ pairs
def num_pairs(channels: int) -> int:
    return channels * (channels - 1) // 2


def pair_from_index(k: np.ndarray, channels: int) -> np.ndarray:
    """The ``k``-th pair ``(i, j)``, ``i < j``, of the row-major upper triangle of a ``channels`` square."""
    k = np.asarray(k, dtype=np.int64)
    n = channels
    # row i starts at index s(i) = i*n - i*(i+1)/2; solve for the largest i with s(i) <= k
    i = np.floor((2 * n - 1 - np.sqrt((2 * n - 1) ** 2 - 8 * k.astype(np.float64))) / 2).astype(np.int64)
    i = np.clip(i, 0, n - 2)
    start = i * n - i * (i + 1) // 2
    i = np.where(start > k, i - 1, i)  # guard against floating-point rounding
    start = i * n - i * (i + 1) // 2
    nxt = (i + 1) * n - (i + 1) * (i + 2) // 2
    bump = k >= nxt
    i = np.where(bump, i + 1, i)
    start = np.where(bump, nxt, start)
    j = k - start + i + 1
    return np.stack([i, j], axis=-1)


def sample_pairs(channels: int, count: int | None, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct channel pairs ``(i < j)`` drawn from ``rng`` (all pairs, in order, if ``count`` is
    None or at least the number of pairs)."""
    total = num_pairs(channels)
    if total == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if count is None or count >= total:
        return pair_from_index(np.arange(total), channels)
    k = np.sort(rng.choice(total, size=count, replace=False))
    return pair_from_index(k, channels)


# ------------------------------------------------------------------------------------------ statistics
@dataclass
class StageStats:
    """SSIM values of one stage (or module) accumulated over images."""

    name: str
    channels: int = 0
    height: int = 0
    width: int = 0
    window: int = 0
    values: list[np.ndarray] = field(default_factory=list)  # per image
    constant_channels: list[float] = field(default_factory=list)  # fraction per image

    def add(self, values: np.ndarray, constant_fraction: float) -> None:
        self.values.append(np.asarray(values, dtype=np.float32))
        self.constant_channels.append(float(constant_fraction))

    @property
    def all_values(self) -> np.ndarray:
        return np.concatenate(self.values) if self.values else np.zeros(0, dtype=np.float32)

    def summary(self, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                ratios: Sequence[int] = DEFAULT_RATIOS) -> dict[str, Any]:  # fmt: skip
        """mean (of per-image means), median, std, quantiles, histogram and the recommended ratio."""
        v = self.all_values.astype(np.float64)
        per_image = [float(x.mean()) for x in self.values if x.size]
        mean = float(np.mean(per_image)) if per_image else float("nan")
        counts, edges = np.histogram(v, bins=HIST_BINS, range=HIST_RANGE)
        return {
            "name": self.name,
            "shape": [self.channels, self.height, self.width],
            "window": self.window,
            "images": len(per_image),
            "pairs": int(v.size),
            "mean": mean,
            "median": float(np.median(v)) if v.size else float("nan"),
            "std": float(np.std(v)) if v.size else float("nan"),
            "p10": float(np.quantile(v, 0.1)) if v.size else float("nan"),
            "p90": float(np.quantile(v, 0.9)) if v.size else float("nan"),
            "per_image_std": float(np.std(per_image)) if per_image else float("nan"),
            "constant_channel_fraction": float(np.mean(self.constant_channels)) if self.constant_channels else 0.0,
            "histogram": {"counts": counts.tolist(), "edges": [round(float(e), 4) for e in edges]},
            "recommended_ratio": recommend_ratio(mean, thresholds, ratios) if per_image else None,
        }


def stage_similarity(
    features: torch.Tensor,
    pairs: int | None = 1000,
    *,
    seed: int = 0,
    image_index: int = 0,
    stage_index: int = 0,
    window_size: int = 11,
    sigma: float = 1.5,
) -> tuple[np.ndarray, float]:
    """SSIM values of sampled channel pairs of one image's stage output ``(C, H, W)`` (or ``(1, C, H, W)``).

    Pairs are drawn from ``numpy.random.default_rng([seed, image_index, stage_index])``, so a run is
    reproducible whatever order stages and images are processed in. Returns ``(values (P,), fraction of
    constant channels)``.
    """
    if features.dim() == 4:
        if features.shape[0] != 1:
            raise ValueError("stage_similarity: pass one image's features (C, H, W)")
        features = features[0]
    rng = np.random.default_rng([int(seed), int(image_index), int(stage_index)])
    p = sample_pairs(features.shape[0], pairs, rng)
    maps, const = normalize_maps(features)
    vals = channel_pair_ssim(maps, p, window_size=window_size, sigma=sigma, normalize=False)
    return vals.cpu().numpy(), float(const.float().mean())


# ------------------------------------------------------------------------------------------ the ratio
def parse_bands(
    text: str | None, ratios: str | Sequence[int] | None = None
) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """``"0.25,0.5,0.75"`` (ascending thresholds) and ``"2,4,8,16"`` (one more ratio than thresholds)."""
    from edgepose.errors import ConfigError

    try:
        th = DEFAULT_THRESHOLDS if not text else tuple(float(x) for x in str(text).replace(" ", "").split(",") if x)
        if ratios is None or ratios == "":
            rs = DEFAULT_RATIOS
        elif isinstance(ratios, str):
            rs = tuple(int(x) for x in ratios.replace(" ", "").split(",") if x)
        else:
            rs = tuple(int(x) for x in ratios)
    except ValueError:
        raise ConfigError(f"bad SSIM bands {text!r} / ratios {ratios!r}: expected comma-separated numbers") from None
    check_bands(th, rs)
    return th, rs


def check_bands(thresholds: Sequence[float], ratios: Sequence[int]) -> None:
    from edgepose.errors import ConfigError

    if len(ratios) != len(thresholds) + 1:
        raise ConfigError(f"SSIM bands: {len(thresholds)} thresholds need {len(thresholds) + 1} ratios, "
                          f"got {len(ratios)}")  # fmt: skip
    if list(thresholds) != sorted(thresholds):
        raise ConfigError(f"SSIM bands: thresholds must be ascending, got {list(thresholds)}")
    if any(r < 1 for r in ratios):
        raise ConfigError(f"SSIM bands: ratios must be >= 1, got {list(ratios)}")


def recommend_ratio(
    mean_ssim: float,
    bands: Sequence[float] | Mapping[float, int] | None = None,
    ratios: Sequence[int] = DEFAULT_RATIOS,
) -> int:
    """The Smart-module ratio ``t`` for a stage whose mean channel-pair SSIM is ``mean_ssim``.

    ``bands`` are ascending thresholds: ``mean < bands[0]`` -> ``ratios[0]``, ..., ``>= bands[-1]`` ->
    ``ratios[-1]``. Default: ``< 0.25 -> 2, < 0.5 -> 4, < 0.75 -> 8, else 16``. These thresholds are ours:
    the FLPN paper gives none. A mapping ``{threshold: ratio, ..., math.inf: last}`` is accepted too.
    """
    if isinstance(bands, Mapping):
        items = sorted(bands.items())
        thresholds = [t for t, _ in items if math.isfinite(t)]
        ratios = [r for _, r in items]
        if len(ratios) == len(thresholds):
            raise ValueError("recommend_ratio: a band mapping needs a final {inf: ratio} entry")
    else:
        thresholds = list(DEFAULT_THRESHOLDS if bands is None else bands)
    check_bands(thresholds, ratios)
    if not math.isfinite(mean_ssim):
        raise ValueError(f"recommend_ratio: mean SSIM is {mean_ssim}")
    for threshold, ratio in zip(thresholds, ratios):
        if mean_ssim < threshold:
            return int(ratio)
    return int(ratios[-1])


def summarize(stats: Iterable[StageStats], thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
              ratios: Sequence[int] = DEFAULT_RATIOS) -> list[dict[str, Any]]:  # fmt: skip
    return [s.summary(thresholds, ratios) for s in stats]


# ------------------------------------------------------------------------------------ running a model
STAGE_NAMES: tuple[str, ...] = ("layer1", "layer2", "layer3", "layer4")


def resolve_layers(model: torch.nn.Module, names: Sequence[str] | None = None,
                   per_module: bool = False) -> dict[str, torch.nn.Module]:  # fmt: skip
    """The modules whose outputs are measured: ``names`` (dotted module names), else the model's four
    stages (``model.parts()["layer1".."layer4"]`` or children of those names). ``per_module`` replaces each
    stage by its blocks (``layer1.0``, ``layer1.1``, ...)."""
    from edgepose.errors import ConfigError

    found: dict[str, torch.nn.Module] = {}
    if names:
        for name in names:
            try:
                found[name] = model.get_submodule(name)
            except AttributeError:
                import difflib

                known = [n for n, _ in model.named_modules() if n]
                close = difflib.get_close_matches(name, known, n=3) or [n for n in known if "." not in n][:8]
                raise ConfigError(f"--layers: the model has no module {name!r}; modules include "
                                  f"{', '.join(close)} (dotted names, as in model.named_modules())") from None
    else:
        parts_fn = getattr(model, "parts", None)
        parts = dict(parts_fn()) if callable(parts_fn) else {}
        for name in STAGE_NAMES:
            module = parts.get(name)
            if module is None:
                try:
                    module = model.get_submodule(name)
                except AttributeError:
                    continue
            found[name] = module
        if not found:
            raise ConfigError("the model has no layer1..layer4 stages; name the modules with --layers a,b,c")
    if per_module:
        expanded: dict[str, torch.nn.Module] = {}
        for name, module in found.items():
            children = list(module.named_children())
            if isinstance(module, torch.nn.Sequential) and children:
                for child_name, child in children:
                    expanded[f"{name}.{child_name}"] = child
            else:
                expanded[name] = module
        found = expanded
    return found


def _first_tensor(output: Any) -> torch.Tensor | None:
    if torch.is_tensor(output):
        return output
    if isinstance(output, (list, tuple)):
        for item in output:
            t = _first_tensor(item)
            if t is not None:
                return t
    if isinstance(output, Mapping):
        for item in output.values():
            t = _first_tensor(item)
            if t is not None:
                return t
    return None


@torch.no_grad()
def analyze_model(
    model: torch.nn.Module,
    batches: Iterable[torch.Tensor],
    layers: Mapping[str, torch.nn.Module],
    *,
    pairs: int | None = 1000,
    seed: int = 0,
    window_size: int = 11,
    sigma: float = 1.5,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> list[StageStats]:
    """Run ``batches`` of normalised images ``(B, 3, H, W)`` through ``model`` and collect, for every module in
    ``layers``, the SSIM of ``pairs`` sampled channel pairs of each image's output (``None``: all pairs)."""
    stats = {name: StageStats(name) for name in layers}
    captured: dict[str, torch.Tensor] = {}
    handles = []

    def hook(name: str):
        def fn(_module: torch.nn.Module, _inputs: Any, output: Any) -> None:
            t = _first_tensor(output)
            if t is not None and t.dim() == 4:
                captured[name] = t.detach()

        return fn

    for name, module in layers.items():
        handles.append(module.register_forward_hook(hook(name)))
    was_training = model.training
    model.eval()
    image_index = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(desc="ssim", unit="img")
    try:
        for batch in batches:
            captured.clear()
            model(batch.to(device))
            for b in range(batch.shape[0]):
                for stage_index, name in enumerate(layers):
                    feats = captured.get(name)
                    if feats is None:
                        continue
                    st = stats[name]
                    st.channels, st.height, st.width = (int(v) for v in feats.shape[1:])
                    st.window = fit_window(st.height, st.width, window_size, sigma)[0]
                    vals, const = stage_similarity(
                        feats[b], pairs, seed=seed, image_index=image_index, stage_index=stage_index,
                        window_size=window_size, sigma=sigma,
                    )  # fmt: skip
                    st.add(vals, const)
                image_index += 1
                if bar is not None:
                    bar.update(1)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
        if bar is not None:
            bar.close()
    missing = [n for n, s in stats.items() if not s.values]
    if missing and image_index:
        from edgepose.errors import ConfigError

        raise ConfigError(f"module(s) {', '.join(missing)} produced no (N, C, H, W) feature map")
    return list(stats.values())


# ------------------------------------------------------------------------------------------------ inputs
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def list_images(folder: str, max_images: int | None = None) -> list[str]:
    """Image files of ``folder`` (sorted by name), at most ``max_images``."""
    from pathlib import Path

    from edgepose.errors import DataError

    root = Path(folder)
    if not root.is_dir():
        raise DataError("image folder not found", root)
    files = sorted(str(p) for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError("no images (.jpg/.png/...) in folder", root)
    return files[:max_images] if max_images else files


def image_batches(files: Sequence[str], input_size: Sequence[int], batch_size: int = 8) -> Iterable[torch.Tensor]:
    """Whole images resized to ``input_size`` (H, W), RGB, ImageNet-normalised, in batches."""
    import cv2

    from edgepose.data.transforms import read_image_rgb
    from edgepose.geometry import normalize_image

    h, w = int(input_size[0]), int(input_size[1])
    buf: list[np.ndarray] = []
    for path in files:
        img = cv2.resize(read_image_rgb(path), (w, h), interpolation=cv2.INTER_AREA)
        buf.append(normalize_image(img))
        if len(buf) == batch_size:
            yield torch.from_numpy(np.stack(buf))
            buf = []
    if buf:
        yield torch.from_numpy(np.stack(buf))


def person_crops(ann_file: str, image_root: str, input_size: Sequence[int], max_crops: int | None = None,
                 seed: int = 0) -> list[tuple[str, np.ndarray]]:  # fmt: skip
    """``(image path, box xywh)`` of the non-crowd persons (with keypoints) of a COCO file; when there are more
    than ``max_crops``, a deterministic sample of them."""
    from pathlib import Path

    from edgepose.data.coco import load_coco_keypoints
    from edgepose.data.transforms import sanitize_box

    coco = load_coco_keypoints(ann_file)
    out = []
    for image_id in coco.image_ids():
        im = coco.images[image_id]
        for person in coco.persons[image_id]:
            if person.iscrowd or person.num_keypoints == 0:
                continue
            box = sanitize_box(person.bbox, im.width, im.height)
            if box is not None:
                out.append((str(Path(image_root) / im.file_name), box))
    if max_crops and len(out) > max_crops:
        keep = np.sort(np.random.default_rng(seed).choice(len(out), size=max_crops, replace=False))
        out = [out[i] for i in keep]
    return out


def crop_batches(crops: Sequence[tuple[str, np.ndarray]], input_size: Sequence[int],
                 batch_size: int = 8) -> Iterable[torch.Tensor]:  # fmt: skip
    """Top-down crops of person boxes (padded to the input aspect ratio, x1.25), RGB, ImageNet-normalised."""
    from edgepose.data.transforms import read_image_rgb
    from edgepose.geometry import box_to_center_scale, crop_image, get_affine_transform, normalize_image

    h, w = int(input_size[0]), int(input_size[1])
    buf: list[np.ndarray] = []
    cache: dict[str, np.ndarray] = {}
    for path, box in crops:
        if path not in cache:
            cache.clear()
            cache[path] = read_image_rgb(path)
        center, scale = box_to_center_scale(box, w / h)
        matrix = get_affine_transform(center, scale, 0.0, (w, h))
        buf.append(normalize_image(crop_image(cache[path], matrix, (w, h))))
        if len(buf) == batch_size:
            yield torch.from_numpy(np.stack(buf))
            buf = []
    if buf:
        yield torch.from_numpy(np.stack(buf))


# ------------------------------------------------------------------------------------------ recommending
FLPN_FOR_BASELINE = {
    "simplebaseline_r50": "flpn_sres50", "simplebaseline_r101": "flpn_sres101",
    "simplebaseline_r152": "flpn_sres152", "lpn50": "flpn_sres50", "lpn101": "flpn_sres101",
    "lpn152": "flpn_sres152",
}  # fmt: skip


def target_model(name: str | None) -> str:
    """The FLPN variant a ratio recommendation for model ``name`` applies to (same depth)."""
    if name and name.startswith("flpn_"):
        return name
    return FLPN_FOR_BASELINE.get(name or "", "flpn_sres50")


def recommendation(
    summaries: Sequence[Mapping[str, Any]],
    target: str,
    fixed: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    """The recommended ratios (one per stage summary, in order) with ``fixed`` {stage index: ratio} applied,
    and the YAML / ``--set`` forms of the override that builds it."""
    ratios = [int(s["recommended_ratio"]) for s in summaries]
    for idx, value in (fixed or {}).items():
        if 0 <= idx < len(ratios):
            ratios[idx] = int(value)
    text = ", ".join(str(r) for r in ratios)
    return {
        "model": target,
        "ratios": ratios,
        "yaml": f"model: {{name: {target}, overrides: {{ratios: [{text}]}}}}",
        "set": f"--set 'ratios=[{','.join(str(r) for r in ratios)}]'",
    }


def recommended_complexity(target: str, ratios: Sequence[int], input_size: Sequence[int]) -> dict[str, Any]:
    """Params / MACs of ``target`` built with ``ratios`` (via :mod:`edgepose.analysis.complexity`, if present);
    ``{"note": why}`` when it cannot be counted."""
    try:
        from edgepose.analysis.complexity import complexity_of
    except ImportError as exc:  # pragma: no cover - the module ships with edgepose
        return {"note": f"complexity not available ({exc})"}
    try:
        rep = complexity_of(target, tuple(int(v) for v in input_size), {"ratios": list(ratios)})
    except Exception as exc:
        return {"note": f"could not build {target} with ratios {list(ratios)}: {exc}"}
    return {"params": rep.params, "macs": rep.macs, "hr1024_gflops": rep.hr1024_gflops,
            "input_size": list(rep.input_size)}  # fmt: skip


def finetune_experiment(
    config: str | Path, weights: str | Path, model_name: str, ratios: Sequence[int], overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """The experiment file of FLPN's SSIM fine-tune step: ``config`` rebuilt with ``ratios`` (re-chosen from the
    SSIM of the model trained to ``weights``) and started from the tensors of ``weights`` that still fit.

    The paper (Sec. IV-A, V-B-3) "adopted SSIM to fine tune the proposed network and find the appropriate ratio";
    it says no more. Our reading: a trained network is measured, the ratios of stages 0-1 re-chosen, and the
    rebuilt network trained further from the trained one. Changing a stage's ratio changes the shapes of its
    Smart modules' convolutions, so those start afresh; every other tensor (stem, other stages, GC blocks, head)
    is copied by ``model.pretrained``. ``overrides`` (``--set`` items) are written into the file, which inherits
    ``config`` through ``base:`` so the recipe stays the config's.
    """
    from edgepose.engine.config import deep_merge, normalize_overrides, read_experiment_dict

    nested: dict[str, Any] = {}
    for key, value in normalize_overrides(list(overrides)).items():
        node = nested
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    own = {
        "base": str(Path(config).resolve()),
        "name": f"{Path(config).stem}_ssim_finetune",
        # the base's relative data paths resolve where the base lives, not beside this file
        "config_dir": read_experiment_dict(config).get("config_dir") or str(Path(config).resolve().parent),
        "model": {"name": model_name, "overrides": {"ratios": [int(r) for r in ratios]},
                  "pretrained": str(Path(weights).resolve())},
    }  # fmt: skip
    return deep_merge(own, nested)
