"""Building blocks shared by SCOAT-Net, U-Net and UNet++, plus the segmentation base class.

Every convolution that feeds a batch normalisation has no bias (the BN shift makes it redundant).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DeepSupervision = str | int
#: Input sizes are padded to a multiple of this (four 2x max-poolings).
SIZE_MULTIPLE = 16
N_HEADS = 4


def conv_bn(in_ch: int, out_ch: int, kernel: int) -> list[nn.Module]:
    """Conv (k x k, 'same' padding, no bias) followed by BatchNorm."""
    conv = nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False)
    return [conv, nn.BatchNorm2d(out_ch)]


def h_r(in_ch: int, out_ch: int, kernel: int = 1) -> nn.Sequential:
    """H_R of the paper: conv (1x1 by default) - BN - ReLU."""
    return nn.Sequential(*conv_bn(in_ch, out_ch, kernel), nn.ReLU(inplace=True))


def h_s(in_ch: int) -> nn.Sequential:
    """H_S of the paper: conv 1x1 to one channel - BN - sigmoid (an attention map in [0, 1])."""
    return nn.Sequential(*conv_bn(in_ch, 1, 1), nn.Sigmoid())


class ResidualBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut (1x1 conv-BN if channels differ), then ReLU."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *conv_bn(in_ch, out_ch, 3), nn.ReLU(inplace=True), *conv_bn(out_ch, out_ch, 3)
        )
        self.shortcut = (
            nn.Identity() if in_ch == out_ch else nn.Sequential(*conv_bn(in_ch, out_ch, 1))
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class SqueezeExcitation(nn.Module):
    """SE channel attention (eq. 4-5): global average pool, FC-ReLU-FC-sigmoid, no FC bias.

    Returns the attention vector x_V of shape (N, C, 1, 1); the caller multiplies it in.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        n, c = x.shape[:2]
        return self.fc(x.mean(dim=(2, 3))).view(n, c, 1, 1)


def encoder_blocks(in_channels: int, widths: Sequence[int]) -> nn.ModuleList:
    """The five residual encoder nodes X^{0..4,0} that every architecture shares."""
    return nn.ModuleList(
        ResidualBlock(in_channels if i == 0 else widths[i - 1], widths[i]) for i in range(5)
    )


def upsample_to(x: Tensor, size: Sequence[int]) -> Tensor:
    """Bilinear upsampling (align_corners=False) to an explicit (H, W)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def cat(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenation along the channel axis."""
    return torch.cat(list(tensors), dim=1)


def down(x: Tensor) -> Tensor:
    """2x2 max-pool down-sampling."""
    return F.max_pool2d(x, 2)


def pad_to_multiple(x: Tensor, multiple: int = SIZE_MULTIPLE) -> Tensor:
    """Pad bottom/right to a multiple of `multiple`: reflect, or zeros where reflect can't."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "constant"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def widths_for(base: int) -> list[int]:
    """Channel widths of the five depths: base x [1, 2, 4, 8, 16]."""
    if base < 1:
        raise ValueError(f"width must be a positive integer, got {base}")
    return [base * 2**i for i in range(5)]


def normalize_deep_supervision(value: DeepSupervision) -> DeepSupervision:
    """Validate a deep-supervision setting: "last", "mean", or a head index 1-4 (int or digit)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if value in ("last", "mean"):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= N_HEADS:
        return value
    raise ValueError(f"deep_supervision must be 'last', 'mean' or 1..{N_HEADS}, got {value!r}")


class SegmentationModel(nn.Module):
    """Base class: padding/cropping, four 1x1 logit heads and deep-supervision selection.

    Subclasses implement `_decode(x) -> (head_features, attention_maps)` where `head_features`
    are the four features feeding heads 1..4 (any resolution; head 4 is the final output) and
    `attention_maps` maps names to (N, 1, h, w) maps. `forward` returns logits (no sigmoid):

    * eval mode: one (N, out_channels, H, W) tensor; "mean" averages the four heads' logits,
      "last" uses head 4, an index k uses head k;
    * train mode: the same, except "mean" returns the list of the four logit maps so the loss
      can average over them (the paper's deep-supervision training).

    All four heads always exist, so a checkpoint loads under any deep-supervision setting.
    With `return_attention=True` the result is `(logits, maps)`, maps resized to the input.
    """

    arch: str = ""
    heads: nn.ModuleList

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int,
        deep_supervision: DeepSupervision,
        head_channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.width = width
        self.deep_supervision = normalize_deep_supervision(deep_supervision)
        self.widths = widths_for(width)
        self._head_channels = list(head_channels or [self.widths[0]] * N_HEADS)

    def _decode(self, x: Tensor) -> tuple[list[Tensor], dict[str, Tensor]]:
        raise NotImplementedError

    def _head_indices(self) -> list[int]:
        mode = self.deep_supervision
        if mode == "mean":
            return list(range(N_HEADS))
        return [N_HEADS - 1 if mode == "last" else int(mode) - 1]

    def forward(
        self, x: Tensor, return_attention: bool = False
    ) -> Tensor | list[Tensor] | tuple[Tensor | list[Tensor], dict[str, Tensor]]:
        """Logits for `x` (N, in_channels, H, W) of any H, W; see the class docstring."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected (N, {self.in_channels}, H, W) input, got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        padded = pad_to_multiple(x)
        size = padded.shape[-2:]
        features, maps = self._decode(padded)
        logits = []
        for k in self._head_indices():
            out = self.heads[k](features[k])
            if out.shape[-2:] != size:
                out = upsample_to(out, size)
            logits.append(out[..., :h, :w])
        result: Tensor | list[Tensor]
        if len(logits) == 1:
            result = logits[0]
        elif self.training:
            result = logits
        else:
            result = torch.stack(logits).mean(dim=0)
        if not return_attention:
            return result
        maps = {k: upsample_to(v, size)[..., :h, :w] for k, v in maps.items()}
        return result, maps

    def _finish(self) -> None:
        """Subclasses call this last: add the heads (after the body) and initialise weights.

        Kaiming-normal convolutions, unit/zero batch norms, zero conv biases.
        """
        self.heads = nn.ModuleList(
            nn.Conv2d(ch, self.out_channels, 1) for ch in self._head_channels
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of (trainable) parameters; buffers such as BN running stats are not counted."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, input_shape: Sequence[int] = (1, 1, 512, 512)) -> int:
    """Multiply-accumulates of Conv2d and Linear layers for one forward pass of `input_shape`.

    Runs on a deep copy moved to the meta device, so no real compute or memory is spent.
    Batch norm, activations, pooling and interpolation are not counted.
    """
    meta = copy.deepcopy(model).to("meta").eval()
    total = 0

    def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += output.numel() * (module.in_channels // module.groups) * kh * kw
        else:
            total += output.numel() * module.in_features

    handles = [
        m.register_forward_hook(hook)
        for m in meta.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            meta(torch.empty(*input_shape, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return total
