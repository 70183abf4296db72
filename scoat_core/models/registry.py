"""Registry of segmentation architectures and their JSON-serialisable configuration."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from scoat_core.models.blocks import (
    DeepSupervision,
    SegmentationModel,
    count_macs,
    count_parameters,
    normalize_deep_supervision,
)
from scoat_core.models.scoat_net import SCOATNet
from scoat_core.models.unet import UNet
from scoat_core.models.unetpp import UNetPlusPlus

ARCHITECTURES: dict[str, type[SegmentationModel]] = {
    "scoat_net": SCOATNet,
    "unet": UNet,
    "unetpp": UNetPlusPlus,
}

#: Base widths: the paper's (Table III parameter counts), the authors' public code, and the
#: width of the weights shipped in resources/models (set when a model is trained and shipped).
DOCUMENTED_WIDTHS: dict[str, int] = {"paper": 64, "public code": 32, "shipped": 16}

__all__ = [
    "ARCHITECTURES",
    "DOCUMENTED_WIDTHS",
    "ModelConfig",
    "config_from_model",
    "count_macs",
    "count_parameters",
    "create_model",
    "documented_widths",
]


def _check_arch(arch: str) -> type[SegmentationModel]:
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        valid = ", ".join(sorted(ARCHITECTURES))
        raise KeyError(f"unknown architecture {arch!r}; valid names: {valid}") from None


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model: architecture name and constructor settings."""

    arch: str = "scoat_net"
    width: int = 32
    in_channels: int = 1
    out_channels: int = 1
    deep_supervision: DeepSupervision = "last"

    def __post_init__(self) -> None:
        _check_arch(self.arch)
        for name in ("width", "in_channels", "out_channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        ds = normalize_deep_supervision(self.deep_supervision)
        object.__setattr__(self, "deep_supervision", ds)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-compatible)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a dict; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        """JSON text (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> ModelConfig:
        """Inverse of `to_json`; also accepts an already parsed dict."""
        return cls.from_dict(json.loads(text) if isinstance(text, str) else dict(text))


def create_model(config_or_name: ModelConfig | str, **kwargs: Any) -> SegmentationModel:
    """Build a model from a `ModelConfig` or an architecture name; kwargs override settings.

    Raises KeyError (listing the valid names) for an unknown architecture.
    """
    if isinstance(config_or_name, ModelConfig):
        settings = config_or_name.to_dict()
    else:
        _check_arch(config_or_name)
        settings = {"arch": config_or_name}
    settings.update(kwargs)
    config = ModelConfig.from_dict(settings)
    cls = ARCHITECTURES[config.arch]
    return cls(
        in_channels=config.in_channels,
        out_channels=config.out_channels,
        width=config.width,
        deep_supervision=config.deep_supervision,
    )


def config_from_model(model: SegmentationModel) -> ModelConfig:
    """The `ModelConfig` that rebuilds `model`."""
    return ModelConfig(
        arch=model.arch,
        width=model.width,
        in_channels=model.in_channels,
        out_channels=model.out_channels,
        deep_supervision=model.deep_supervision,
    )


def documented_widths(arch: str) -> dict[str, int]:
    """Documented base widths of `arch`: {"paper": 64, "public code": 32, "shipped": 16}.

    The paper does not state widths; 64 reproduces its Table III parameter counts and 32 is
    the authors' public code. The baselines are compared at the same widths.
    """
    _check_arch(arch)
    return dict(DOCUMENTED_WIDTHS)
