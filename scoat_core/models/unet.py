"""U-Net baseline built from the same blocks as SCOAT-Net.

Four max-pool down-samplings, residual blocks, bilinear up-sampling, widths base x [1, 2, 4, 8,
16]. Decoder stage d (depth 3, 2, 1, 0) is a residual block on [x_enc^d, F_U(x_dec^{d+1})].
Deep supervision: head k (k = 1..4) is a 1x1 conv on the k-th decoder stage (depths 3, 2, 1,
0), its logits bilinearly upsampled to the input size; head 4 is the classic U-Net output.
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
    widths_for,
)


class UNet(SegmentationModel):
    """Residual U-Net with bilinear up-sampling (see the module docstring)."""

    arch = "unet"

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        width: int = 32,
        deep_supervision: DeepSupervision = "last",
    ) -> None:
        c = widths_for(width)
        super().__init__(in_channels, out_channels, width, deep_supervision, head_channels=c[3::-1])
        self.encoder = encoder_blocks(in_channels, c)
        # decoder[d] produces depth d from encoder depth d and decoder depth d + 1
        self.decoder = nn.ModuleList(ResidualBlock(c[d] + c[d + 1], c[d]) for d in range(4))
        self._finish()

    def _decode(self, x: Tensor) -> tuple[list[Tensor], dict[str, Tensor]]:
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else down(x))
            skips.append(x)
        stages = []
        for d in range(3, -1, -1):
            x = self.decoder[d](cat([skips[d], upsample_to(x, skips[d].shape[-2:])]))
            stages.append(x)
        return stages, {}
