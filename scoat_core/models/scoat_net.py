"""SCOAT-Net: spatial and channel-wise coarse-to-fine attention network (Zhao et al., section III).

Reading of the paper used here
------------------------------
* Nested UNet++ grid of nodes X^{i,j}, depth i = 0..4, j = 0..4-i, widths base x [1, 2, 4, 8, 16]
  (base 64 = "paper width", base 32 = the authors' public code). Encoder nodes X^{i,0} are
  residual blocks (X^{0,0} on the input, X^{i,0} after a 2x2 max-pool). Down-sampling is
  max-pooling, up-sampling F_U is bilinear interpolation (align_corners=False) to the exact size
  of the upper feature.
* Top row X^{0,j}, j >= 1 (kept free of attention, "except for the bottom layer X^{0,j}"):
  residual block on [x^{0,0}, ..., x^{0,j-1}, F_U(x^{1,j-1})].
* The six nodes X^{i,j+1} with i >= 1 — (1,1), (1,2), (1,3), (2,1), (2,2), (3,1) — use
  - spatial-wise attention (eq. 1-2): x_M^{i,j+1} = H_S(H_R(x^{i,j}) + H_R(F_U(x^{i+1,j}))),
    x_s = (1 + x_M^{i,j+1}) * F_U(x^{i+1,j}); H_R = conv1x1-BN-ReLU, H_S = conv1x1-BN-sigmoid
    to one channel. Both H_R map to C_u channels (the width of the upper feature x^{i,j}, as in
    the authors' code). x_s keeps the C_d channels of F_U(x^{i+1,j}), as eq. 2 implies (the
    text's "x_s in R^{H_u x W_u x C_u}" would need a projection that no equation contains).
  - channel-wise attention (eq. 3-6): x_c = [x^{i,0}, ..., x^{i,j}, x_s] with
    C_m = (j+1) C_u + C_d channels (eq. 3 prints k = 0..j-1; we include x^{i,j}, the feature
    the spatial module also reads, as Fig. 1 and the authors' code do); x_V = SE(x_c),
    r = 16, FC layers without bias as in eq. 5; output x^{i,j+1} = H_R^2(x_V * x_c) + H_R(x_c).
    H_R^2 is two conv3x3-BN-ReLU layers C_m -> C_u -> C_u (the "two-layer convolution for
    feature extraction", 3x3 like every other feature-extraction conv); the H_R shortcut is
    conv1x1-BN-ReLU C_m -> C_u as H_R is defined in eq. 1. The sum is not activated again.
* Deep supervision (section III-D): 1x1 conv heads to logits on x^{0,1..4}; see
  `SegmentationModel` for "last" / "mean" / index.

Parameter counts (in_channels = out_channels = 1; Table III says 39.08 M at the paper width):

* base 64: 40.78 M with this reading (+4.3 %, inside the 5 % band). Ambiguous choices weighed
  at base 64: H_R^2 as C_m -> C_m -> C_u gives 80.2 M; both H_R of eq. 1 to C_d channels
  42.1 M; a 1x1 projection of x_s to C_u (the text's shape of x_s) 36.9 M (-5.5 %); all
  three are outside the band. H_R of eq. 1 to C_u / 2 gives 40.1 M, but C_u (feature
  integration at the upper feature's width, as the authors' code does) is more faithful.
* base 32: 10.20 M, 153.9 GMAC per 512 x 512 slice — equal to the authors' public code
  (~10.2 M, ~154 GMAC); base 16: 2.55 M, 38.5 GMAC; base 64: 615.5 GMAC
  (Conv2d + Linear multiply-accumulates, `count_macs`).

Attention maps (``forward(x, return_attention=True)``) are keyed ``"x_M^{i,j+1}"`` by the node
that the map belongs to (superscript of eq. 1), e.g. ``"x_M^{1,1}"`` is computed from x^{1,0}
and x^{2,0} and gates the input of X^{1,1}. Maps are (N, 1, H, W) in [0, 1], bilinearly
resized to the padded input size and cropped to the input size.
"""

from __future__ import annotations

from torch import Tensor, nn

from scoat_core.models.blocks import (
    DeepSupervision,
    ResidualBlock,
    SegmentationModel,
    SqueezeExcitation,
    cat,
    down,
    encoder_blocks,
    h_r,
    h_s,
    upsample_to,
)

#: The six attention nodes (i, j+1) in computation order.
ATTENTION_NODES = ((1, 1), (2, 1), (1, 2), (3, 1), (2, 2), (1, 3))


def attention_key(i: int, j: int) -> str:
    """Name of the attention map of node X^{i,j}: ``"x_M^{i,j}"``."""
    return f"x_M^{{{i},{j}}}"


class SpatialAttention(nn.Module):
    """Spatial-wise attention (eq. 1-2): returns (x_s, x_M) for upper x^{i,j}, lower x^{i+1,j}."""

    def __init__(self, upper_ch: int, lower_ch: int, mid_ch: int | None = None) -> None:
        super().__init__()
        mid = upper_ch if mid_ch is None else mid_ch
        self.h_upper = h_r(upper_ch, mid)
        self.h_lower = h_r(lower_ch, mid)
        self.h_s = h_s(mid)

    def forward(self, upper: Tensor, lower: Tensor) -> tuple[Tensor, Tensor]:
        lower_up = upsample_to(lower, upper.shape[-2:])
        x_m = self.h_s(self.h_upper(upper) + self.h_lower(lower_up))
        return (1 + x_m) * lower_up, x_m


class ChannelAttentionNode(nn.Module):
    """Channel-wise attention (eq. 3-6): x^{i,j+1} = H_R^2(x_V * x_c) + H_R(x_c)."""

    def __init__(self, in_ch: int, out_ch: int, reduction: int = 16) -> None:
        super().__init__()
        self.se = SqueezeExcitation(in_ch, reduction)
        self.h_r2 = nn.Sequential(h_r(in_ch, out_ch, 3), h_r(out_ch, out_ch, 3))
        self.h_r = h_r(in_ch, out_ch, 1)

    def forward(self, x_c: Tensor) -> Tensor:
        return self.h_r2(self.se(x_c) * x_c) + self.h_r(x_c)


class AttentionNode(nn.Module):
    """Decoder node X^{i,j+1} (i >= 1): spatial then channel-wise attention."""

    def __init__(self, upper_ch: int, lower_ch: int, n_same: int) -> None:
        super().__init__()
        self.spatial = SpatialAttention(upper_ch, lower_ch)
        self.channel = ChannelAttentionNode(n_same * upper_ch + lower_ch, upper_ch)

    def forward(self, same_row: list[Tensor], lower: Tensor) -> tuple[Tensor, Tensor]:
        x_s, x_m = self.spatial(same_row[-1], lower)
        return self.channel(cat([*same_row, x_s])), x_m


class SCOATNet(SegmentationModel):
    """SCOAT-Net (see the module docstring for the exact reading of the paper)."""

    arch = "scoat_net"

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        width: int = 32,
        deep_supervision: DeepSupervision = "last",
    ) -> None:
        super().__init__(in_channels, out_channels, width, deep_supervision)
        c = self.widths
        self.encoder = encoder_blocks(in_channels, c)
        self.top = nn.ModuleList(ResidualBlock(j * c[0] + c[1], c[0]) for j in range(1, 5))
        self.attention = nn.ModuleDict(
            {f"{i}_{j}": AttentionNode(c[i], c[i + 1], j) for i, j in ATTENTION_NODES}
        )
        self._finish()

    def _decode(self, x: Tensor) -> tuple[list[Tensor], dict[str, Tensor]]:
        nodes: dict[tuple[int, int], Tensor] = {}
        maps: dict[str, Tensor] = {}
        for i in range(5):
            nodes[i, 0] = self.encoder[i](x if i == 0 else down(nodes[i - 1, 0]))
            # anti-diagonal i + j = i: nodes (i-1, 1), (i-2, 2), ..., (0, i)
            for j in range(1, i + 1):
                row = i - j
                same = [nodes[row, k] for k in range(j)]
                lower = nodes[row + 1, j - 1]
                if row == 0:
                    up = upsample_to(lower, same[0].shape[-2:])
                    nodes[0, j] = self.top[j - 1](cat([*same, up]))
                else:
                    out, x_m = self.attention[f"{row}_{j}"](same, lower)
                    nodes[row, j] = out
                    maps[attention_key(row, j)] = x_m
        return [nodes[0, j] for j in range(1, 5)], maps
