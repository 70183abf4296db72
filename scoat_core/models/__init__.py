"""Segmentation networks: SCOAT-Net and the U-Net / UNet++ baselines, registry and weights I/O.

Public API::

    create_model("scoat_net", width=16)           # or create_model(ModelConfig(...))
    ModelConfig(arch, width, in_channels, out_channels, deep_supervision).to_json()
    save_weights(model, config, path) / load_weights(path, expected_sha256=..., config=...)
    load_default_model()                          # resources/models/manifest.json "default"
    count_parameters(model), count_macs(model, (1, 1, 512, 512))
"""

from scoat_core.models.blocks import SegmentationModel, count_macs, count_parameters
from scoat_core.models.registry import (
    ARCHITECTURES,
    ModelConfig,
    config_from_model,
    create_model,
    documented_widths,
)
from scoat_core.models.scoat_net import SCOATNet
from scoat_core.models.unet import UNet
from scoat_core.models.unetpp import UNetPlusPlus
from scoat_core.models.weights import (
    WeightsError,
    load_default_model,
    load_model,
    load_weights,
    read_manifest,
    save_weights,
    sha256_file,
    shipped_models_dir,
    write_manifest,
)

__all__ = [
    "ARCHITECTURES",
    "ModelConfig",
    "SCOATNet",
    "SegmentationModel",
    "UNet",
    "UNetPlusPlus",
    "WeightsError",
    "config_from_model",
    "count_macs",
    "count_parameters",
    "create_model",
    "documented_widths",
    "load_default_model",
    "load_model",
    "load_weights",
    "read_manifest",
    "save_weights",
    "sha256_file",
    "shipped_models_dir",
    "write_manifest",
]
