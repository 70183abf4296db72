"""UNet++ baseline (nested dense skip connections) built from the same blocks as SCOAT-Net.

Node X^{i,0} is a residual block (after a 2x2 max-pool for i >= 1); node X^{i,j}, j >= 1, is a
residual block on [x^{i,0}, ..., x^{i,j-1}, F_U(x^{i+1,j-1})] with F_U bilinear. Widths are
base x [1, 2, 4, 8, 16]. Deep-supervision heads: 1x1 conv on x^{0,1..4}, as in SCOAT-Net.
"""

from __future__ import annotations

from torch import Tensor, nn

from scoat_core.models.blocks import (
    DeepSupervision,
    ResidualBlock,
    SegmentationModel,
    cat,
    down,
    encoder_blocks,
    upsample_to,
)


class UNetPlusPlus(SegmentationModel):
    """Residual UNet++ with bilinear up-sampling (see the module docstring)."""

    arch = "unetpp"

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
        self.nested = nn.ModuleDict(
            {
                f"{i}_{j}": ResidualBlock(j * c[i] + c[i + 1], c[i])
                for i in range(4)
                for j in range(1, 5 - i)
            }
        )
        self._finish()

    def _decode(self, x: Tensor) -> tuple[list[Tensor], dict[str, Tensor]]:
        nodes: dict[tuple[int, int], Tensor] = {}
        for i in range(5):
            nodes[i, 0] = self.encoder[i](x if i == 0 else down(nodes[i - 1, 0]))
            for j in range(1, i + 1):
                row = i - j
                same = [nodes[row, k] for k in range(j)]
                up = upsample_to(nodes[row + 1, j - 1], same[0].shape[-2:])
                nodes[row, j] = self.nested[f"{row}_{j}"](cat([*same, up]))
        return [nodes[0, j] for j in range(1, 5)], {}
