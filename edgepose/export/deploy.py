"""The deployment graph: a trained network rewritten into an arithmetically identical, cheaper one.

Training graphs carry structure that only training needs. At inference it costs time, mostly on CPUs where
FLPN's few MACs are spread over many small, memory-bound layers (FLPN-50 runs at about half
SimpleBaseline's GMAC/s through ONNX Runtime, docs/deployment.md). :func:`deploy_model` returns a rewritten
*copy* (eval mode):

* **BatchNorm folded** into the convolution that feeds it, for ``Conv2d`` and ``ConvTranspose2d`` of any
  ``groups`` (depth-wise convs, FLPN's group deconvolutions). A BN is folded only when a traced forward pass
  shows that its input *is* the conv's output, unmodified (same tensor, same version counter: an in-place op
  in between would bump it); the pairing is read from the forward pass, not from attribute names, so it
  follows every model in ``edgepose.models`` without knowing their layouts. ONNX exporters fold Conv+BN but
  leave ConvTranspose+BN as a separate op.
* **Ghost/Smart modules** produce exactly the channels they keep: the exported training graph concatenates
  the intrinsic and ghost maps and then slices (a no-op slice for every shipped ratio). In ONNX Runtime's
  blocked (NCHWc) layout that slice costs a layout round trip per module (reorder out, slice, reorder in),
  about 15 % of FLPN-50's time. The rewrite concatenates only what is kept: the cheap op's weights are cut to
  the ghost channels that survive the slice, and no slice is emitted when nothing is cut.
* **Global Context blocks** in their cheapest exact form: the attention score conv is one matrix product on
  the flattened map that the pooling needs anyway (no second layout copy), its bias is dropped (a constant
  shift of every score cancels in the softmax), and the bottleneck transform of the pooled vector runs as
  ``Linear`` layers on a ``(B, C)`` vector instead of 1×1 convs on ``(B, C, 1, 1)`` maps.
* ReLUs stay separate modules: ONNX Runtime fuses Conv+ReLU itself once no BN sits between them.

The rewrite is checked: :func:`deploy_model` runs the original and the rewritten network on the example
input and raises :class:`~edgepose.errors.EdgeposeError` if they differ by more than ``atol``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from edgepose.errors import EdgeposeError

DEFAULT_ATOL = 1e-4
_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


@dataclass
class DeployReport:
    """What :func:`deploy_model` changed, and how far the rewritten outputs are from the original ones."""

    folded_bn: int = 0
    ghost_modules: int = 0
    gc_blocks: int = 0
    unfolded_bn: list[str] = field(default_factory=list)  # BNs left in place (input not a conv's own output)
    max_abs_diff: float | None = None

    def summary(self) -> str:
        """One line for logs: the counts and the parity."""
        diff = "unchecked" if self.max_abs_diff is None else f"max |diff| {self.max_abs_diff:.2e}"
        return (
            f"deployment graph: {self.folded_bn} BN folded ({len(self.unfolded_bn)} kept), "
            f"{self.ghost_modules} Ghost/Smart modules trimmed, {self.gc_blocks} GC blocks rewritten, {diff}"
        )


# ---------------------------------------------------------------------------------------------- BN folding
def _bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with ``bn(x) == x * scale + shift`` per channel in eval mode."""
    if bn.running_mean is None or bn.running_var is None:
        raise EdgeposeError(f"BatchNorm {bn} has no running statistics to fold")
    scale = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    return scale, shift


def fold_bn_into(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> None:
    """Fold ``bn`` (eval mode) into ``conv`` in place: weights scaled per output channel, bias set.

    A ``Conv2d`` weight is ``(out, in/groups, kh, kw)``: the output channel is axis 0. A ``ConvTranspose2d``
    weight is ``(in, out/groups, kh, kw)``: output channel ``g * out/groups + j`` is row block ``g`` (input
    channels ``g * in/groups ...``), column ``j``; the scale is laid out as ``(groups, 1, out/groups)`` to match.
    Computed in float64 so the fold adds no rounding of its own.
    """
    scale, shift = _bn_scale_shift(bn)
    weight = conv.weight.detach().double()
    if isinstance(conv, nn.ConvTranspose2d):
        g = conv.groups
        shape = weight.shape
        weight = weight.reshape(g, shape[0] // g, shape[1], *shape[2:]) * scale.reshape(g, 1, shape[1], 1, 1)
        weight = weight.reshape(shape)
    else:
        weight = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
    bias = shift if conv.bias is None else conv.bias.detach().double() * scale + shift
    dtype = conv.weight.dtype
    conv.weight = nn.Parameter(weight.to(dtype), requires_grad=False)
    conv.bias = nn.Parameter(bias.to(dtype), requires_grad=False)


def _trace_conv_bn_pairs(model: nn.Module, example: torch.Tensor) -> tuple[list[tuple[str, str]], list[str]]:
    """(conv name, BN name) pairs where the BN's input is the conv's untouched output, and the other BNs.

    Forward hooks record every conv output tensor with its version counter; a BN pre-hook looks its input up.
    Modules called more than once must pair the same way every call, else the BN is left alone.
    """
    produced: dict[int, tuple[str, int, torch.Tensor]] = {}
    seen: dict[str, set[str | None]] = {}
    handles = []

    def conv_hook(name: str) -> Callable:
        def hook(_mod, _inp, out):
            produced[id(out)] = (name, out._version, out)  # keep the tensor: ids are not reused while held

        return hook

    def bn_hook(name: str) -> Callable:
        def hook(_mod, inp):
            entry = produced.get(id(inp[0]))
            ok = entry is not None and entry[2] is inp[0] and entry[1] == inp[0]._version
            seen.setdefault(name, set()).add(entry[0] if ok else None)

        return hook

    for name, module in model.named_modules():
        if isinstance(module, _CONVS):
            handles.append(module.register_forward_hook(conv_hook(name)))
        elif isinstance(module, nn.BatchNorm2d):
            handles.append(module.register_forward_pre_hook(bn_hook(name)))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
    pairs, kept = [], []
    convs_used: dict[str, int] = {}
    for bn_name, sources in seen.items():
        if len(sources) == 1 and None not in sources:
            conv_name = next(iter(sources))
            convs_used[conv_name] = convs_used.get(conv_name, 0) + 1
            pairs.append((conv_name, bn_name))
        else:
            kept.append(bn_name)
    shared = {c for c, n in convs_used.items() if n > 1}  # one conv feeding two BNs: fold neither
    kept += [b for c, b in pairs if c in shared]
    return [(c, b) for c, b in pairs if c not in shared], kept


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, module)


def fold_batchnorms(model: nn.Module, example: torch.Tensor) -> tuple[int, list[str]]:
    """Fold every BN whose input is a conv's own output into that conv (in place); BNs become Identity.

    Returns (number folded, names of the BNs left in place).
    """
    pairs, kept = _trace_conv_bn_pairs(model, example)
    for conv_name, bn_name in pairs:
        fold_bn_into(model.get_submodule(conv_name), model.get_submodule(bn_name))
        _set_submodule(model, bn_name, nn.Identity())
    return len(pairs), kept


# ------------------------------------------------------------------------------------------- Ghost / Smart
class DeployGhost(nn.Module):
    """A Ghost/Smart module that computes only the ``out_channels`` it returns (no concat-then-slice)."""

    def __init__(self, primary: nn.Module, cheap: nn.Module | None, used_intrinsic: int) -> None:
        super().__init__()
        self.primary = primary
        self.cheap = cheap
        self.used_intrinsic = used_intrinsic  # leading intrinsic maps the (cut) cheap op reads; 0 = all

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        intrinsic = self.primary(x)
        if self.cheap is None:
            return intrinsic
        source = intrinsic[:, : self.used_intrinsic] if self.used_intrinsic else intrinsic
        return torch.cat([intrinsic, self.cheap(source)], dim=1)


def _first_conv(seq: nn.Module) -> nn.Conv2d:
    conv = seq[0] if isinstance(seq, nn.Sequential) else None
    if not isinstance(conv, nn.Conv2d):
        raise EdgeposeError(f"Ghost module layer {seq} does not start with a Conv2d")
    return conv


def _cut_conv(conv: nn.Conv2d, out_channels: int, groups: int | None = None) -> nn.Conv2d:
    """The first ``out_channels`` output channels of ``conv`` (and, for a grouped conv, its first ``groups``)."""
    groups = conv.groups if groups is None else groups
    in_channels = conv.in_channels if groups == conv.groups else groups * (conv.in_channels // conv.groups)
    cut = nn.Conv2d(
        in_channels, out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, groups,
        bias=conv.bias is not None, padding_mode=conv.padding_mode,
    )  # fmt: skip
    cut.weight = nn.Parameter(conv.weight.detach()[:out_channels].clone(), requires_grad=False)
    if conv.bias is not None:
        cut.bias = nn.Parameter(conv.bias.detach()[:out_channels].clone(), requires_grad=False)
    return cut


def _cut_bn(bn: nn.BatchNorm2d, channels: int) -> nn.BatchNorm2d:
    cut = nn.BatchNorm2d(channels, eps=bn.eps, affine=bn.affine).eval()
    cut.load_state_dict({k: v[:channels] if v.dim() else v for k, v in bn.state_dict().items()})
    return cut


def _with_conv(seq: nn.Sequential, conv: nn.Conv2d) -> nn.Sequential:
    """``seq`` with its first layer replaced by the cut ``conv``; a BN behind it (not folded yet) is cut to
    match; any other layer must be channel-agnostic (ReLU, Identity), which is checked."""
    rest = []
    for layer in list(seq)[1:]:
        if isinstance(layer, nn.BatchNorm2d):
            layer = _cut_bn(layer, conv.out_channels)
        elif not isinstance(layer, nn.ReLU | nn.Identity | nn.ReLU6 | nn.Hardswish):
            raise EdgeposeError(f"cannot cut a Ghost module layer {type(layer).__name__}")
        rest.append(layer)
    return nn.Sequential(conv, *rest)


def trim_ghost(module: nn.Module) -> DeployGhost:
    """The :class:`DeployGhost` of a (BN-folded) ``GhostModule``: same outputs, no discarded channels."""
    out = int(module.out_channels)
    primary_conv = _first_conv(module.primary_conv)
    init = primary_conv.out_channels
    if module.cheap_operation is None or out <= init:
        primary = module.primary_conv
        if out < init:
            primary = _with_conv(module.primary_conv, _cut_conv(primary_conv, out))
        return DeployGhost(primary, None, 0)
    cheap_conv = _first_conv(module.cheap_operation)
    need = out - init
    if need >= cheap_conv.out_channels:
        return DeployGhost(module.primary_conv, module.cheap_operation, 0)
    per_group = cheap_conv.out_channels // cheap_conv.groups
    groups = -(-need // per_group)  # ghost maps come in runs of (ratio - 1) per intrinsic map
    cut = _cut_conv(cheap_conv, need, groups) if need % per_group == 0 else None
    if cut is None:  # a partial run: compute the whole last run, then drop its tail (rare: out % ratio != 0)
        cheap = nn.Sequential(_with_conv(module.cheap_operation, _cut_conv(cheap_conv, groups * per_group, groups)))
        cheap.append(_Head(need))
    else:
        cheap = _with_conv(module.cheap_operation, cut)
    return DeployGhost(module.primary_conv, cheap, groups if groups < init else 0)


class _Head(nn.Module):
    """Keep the first ``channels`` channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, : self.channels]


# ----------------------------------------------------------------------------------------------- GC block
class DeployGC(nn.Module):
    """GCNet's block (att pooling + channel add) with the score conv as a product on the flattened map."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        mask: nn.Conv2d = block.conv_mask
        conv1, norm, act, conv2 = list(block.channel_add_conv)
        if not (isinstance(conv1, nn.Conv2d) and isinstance(norm, nn.LayerNorm) and isinstance(conv2, nn.Conv2d)):
            raise EdgeposeError(f"unexpected GC block layout {block}")
        self.register_buffer("score", mask.weight.detach().reshape(1, -1).clone())  # bias dropped: softmax shift
        self.fc1 = _linear(conv1)
        self.norm = nn.LayerNorm(conv1.out_channels, eps=norm.eps, elementwise_affine=norm.weight is not None)
        if norm.weight is not None:
            self.norm.weight = nn.Parameter(norm.weight.detach().reshape(-1).clone(), requires_grad=False)
            self.norm.bias = nn.Parameter(norm.bias.detach().reshape(-1).clone(), requires_grad=False)
        self.act = act
        self.fc2 = _linear(conv2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        flat = x.reshape(b, c, h * w)
        weights = torch.softmax(torch.matmul(self.score, flat), dim=-1)  # B×1×HW
        context = torch.matmul(flat, weights.transpose(1, 2)).reshape(b, c)
        add = self.fc2(self.act(self.norm(self.fc1(context))))
        return x + add.reshape(b, c, 1, 1)


def _linear(conv: nn.Conv2d) -> nn.Linear:
    lin = nn.Linear(conv.in_channels, conv.out_channels, bias=conv.bias is not None)
    lin.weight = nn.Parameter(conv.weight.detach().reshape(conv.out_channels, -1).clone(), requires_grad=False)
    if conv.bias is not None:
        lin.bias = nn.Parameter(conv.bias.detach().clone(), requires_grad=False)
    return lin


# ---------------------------------------------------------------------------------------------- the driver
def _is_ghost(module: nn.Module) -> bool:
    return hasattr(module, "primary_conv") and hasattr(module, "cheap_operation") and hasattr(module, "out_channels")


def _is_gc(module: nn.Module) -> bool:
    return hasattr(module, "conv_mask") and hasattr(module, "channel_add_conv") and hasattr(module, "spatial_pool")


def _replace_all(model: nn.Module, match: Callable[[nn.Module], bool], make: Callable[[nn.Module], nn.Module]) -> int:
    names = [name for name, m in model.named_modules() if name and match(m)]
    for name in names:
        _set_submodule(model, name, make(model.get_submodule(name)))
    return len(names)


def _outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        out = model(x)
    return [out] if isinstance(out, torch.Tensor) else [t for t in out if isinstance(t, torch.Tensor)]


def max_abs_diff(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    """Largest absolute difference between the outputs of two networks on ``x``."""
    pairs = list(zip(_outputs(a, x), _outputs(b, x), strict=True))
    return max(float((p - q).abs().max()) for p, q in pairs)


def deploy_model(
    model: nn.Module,
    example: torch.Tensor | None = None,
    *,
    check: bool = True,
    atol: float = DEFAULT_ATOL,
) -> tuple[nn.Module, DeployReport]:
    """A rewritten eval-mode copy of ``model`` (see the module docstring) and what was changed.

    ``example`` is one input batch used to trace the conv→BN pairs and to check parity; by default a seeded
    random image at the model's ``input_size``. ``model`` itself is not modified.
    """
    was_training = model.training
    model.eval()
    try:
        if example is None:
            h, w = getattr(model, "input_size", None) or (256, 192)
            device = next(iter(model.parameters()), torch.zeros(())).device
            example = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(device)
        deployed = copy.deepcopy(model).eval()
        for p in deployed.parameters():
            p.requires_grad_(False)
        report = DeployReport()
        report.folded_bn, report.unfolded_bn = fold_batchnorms(deployed, example)
        report.ghost_modules = _replace_all(deployed, _is_ghost, trim_ghost)
        report.gc_blocks = _replace_all(deployed, _is_gc, DeployGC)
        if check:
            report.max_abs_diff = max_abs_diff(model, deployed, example)
            if not report.max_abs_diff <= atol:
                raise EdgeposeError(
                    f"deployment graph of {type(model).__name__} differs from the trained network by "
                    f"{report.max_abs_diff:.3g} (> {atol:g}); export with --no-deploy and report this"
                )
    finally:
        model.train(was_training)
    return deployed, report
