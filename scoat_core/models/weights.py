"""Safe model weights I/O (safetensors only, never pickle) and the shipped-model manifest.

A weights file ``<name>.safetensors`` holds the full state dict (parameters, BN running stats
and ``num_batches_tracked`` as int64), optionally with float tensors stored as float16; its
metadata records the `ModelConfig` JSON. ``resources/models/manifest.json`` is
``{"default": <name>, "models": [entry, ...]}`` where each entry is what `save_weights`
returns plus a "name": ``file`` (relative to the manifest), ``sha256``, ``config`` (the
`ModelConfig` as a JSON object), ``n_parameters`` and any extra items.

`load_checked` is the one loading path of the CLI and the analysis: the shipped model by
default, or a file given by path, which must prove what it is (see `load_checked`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from scoat_core.errors import UserError
from scoat_core.models.blocks import count_parameters
from scoat_core.models.registry import ModelConfig, create_model

MANIFEST_NAME = "manifest.json"
CONFIG_METADATA_KEY = "scoat_model_config"
SUFFIX = ".safetensors"
CHECKSUM_SUFFIX = ".sha256"
#: The command-line flag that accepts weights nothing can verify.
TRUST_FLAG = "--trust-unverified-weights"
#: The warning stored with results made by weights nothing verified.
UNVERIFIED_WARNING = "unverified model weights"


class WeightsError(UserError, RuntimeError):
    """A weights file or manifest is missing, damaged or inconsistent."""


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def save_weights(
    model: nn.Module,
    config: ModelConfig,
    path: str | Path,
    *,
    fp16: bool = True,
    extra_manifest: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write the model's state dict to `path` (``.safetensors`` appended if missing).

    Float tensors are stored as float16 when `fp16`. Returns the manifest entry
    (``file``, ``sha256``, ``config``, ``n_parameters`` and the `extra_manifest` items).
    `metadata` (strings) is stored in the file header, readable with `read_metadata`. The
    SHA-256 is also written beside the file (``<file>.sha256``, ``sha256sum`` format), so the
    file can be used by path (`load_checked`).
    """
    path = Path(path)
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    tensors = {}
    for key, value in model.state_dict().items():
        tensor = value.detach().cpu()
        if fp16 and tensor.is_floating_point():
            tensor = tensor.to(torch.float16)
        tensors[key] = tensor.contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {**(metadata or {}), CONFIG_METADATA_KEY: config.to_json()}
    save_file(tensors, str(path), metadata=header)
    digest = sha256_file(path)
    checksum_path(path).write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    entry: dict[str, Any] = {
        "file": path.name,
        "sha256": digest,
        "config": config.to_dict(),
        "n_parameters": count_parameters(model),
    }
    entry.update(extra_manifest or {})
    return entry


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata stored in a safetensors file header."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"{Path(path).name}: not a readable safetensors file ({exc})") from exc


def _config_from_metadata(path: Path) -> ModelConfig:
    with safe_open(str(path), framework="pt") as fh:
        text = (fh.metadata() or {}).get(CONFIG_METADATA_KEY)
    if text is None:
        raise WeightsError(f"{path.name}: no model config given and none stored in the file")
    return ModelConfig.from_json(text)


def load_weights(
    path: str | Path,
    *,
    expected_sha256: str | None = None,
    config: ModelConfig | dict[str, Any] | None = None,
) -> nn.Module:
    """Build the model of `config` (default: the file's metadata), load `path`, set eval().

    The SHA-256 is checked before anything is parsed; a mismatch raises `WeightsError`, and so
    does a NaN or infinite value in any tensor. Tensors are cast back to float32 and loaded with
    ``strict=True``.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual.lower() != expected_sha256.lower():
            raise WeightsError(
                f"{path.name}: SHA-256 mismatch (expected {expected_sha256}, got {actual}); "
                "the weights file is damaged or not the shipped one"
            )
    try:
        if config is None:
            config = _config_from_metadata(path)
        elif isinstance(config, dict):
            config = ModelConfig.from_dict(config)
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path.name}: not a readable safetensors file ({exc})") from exc
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise WeightsError(f"{path}: tensor {key} holds NaN or infinite values; "
                               "the weights file is damaged")
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    model = create_model(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path.name}: weights do not match {config.to_json()}: {exc}") from exc
    return model.eval()


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read a manifest JSON file; raises `WeightsError` if missing or malformed."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"{path}: manifest not found") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models", []), list):
        raise WeightsError(f"{path}: manifest must be an object with a 'models' list")
    manifest.setdefault("models", [])
    manifest.setdefault("default", None)
    return manifest


def write_manifest(path: str | Path, manifest: dict[str, Any]) -> None:
    """Write a manifest (indented, sorted keys, trailing newline)."""
    names = [entry.get("name") for entry in manifest.get("models", [])]
    if None in names or len(set(names)) != len(names):
        raise WeightsError("every manifest entry needs a unique 'name'")
    default = manifest.get("default")
    if default is not None and default not in names:
        raise WeightsError(f"default model {default!r} is not in the manifest")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def shipped_models_dir() -> Path:
    """Folder of the shipped weights and manifest.

    Installed (wheel or editable install): the ``scoat_resources`` package, which pyproject.toml
    maps to the repository's ``resources/`` folder, found via importlib.resources. Otherwise
    (a checkout on sys.path without an install, or the PyInstaller bundle, which keeps the files
    in ``_internal/resources``): ``resources/models`` beside the ``scoat_core`` package.
    """
    if importlib.util.find_spec("scoat_resources") is not None:
        candidate = Path(str(resources.files("scoat_resources") / "models"))
        if candidate.is_dir():
            return candidate
    return Path(__file__).resolve().parents[2] / "resources" / "models"


def find_entry(manifest: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """Manifest entry called `name` (default: the manifest's default)."""
    name = name or manifest.get("default")
    if name is None:
        raise WeightsError("no default model in the manifest")
    for entry in manifest.get("models", []):
        if entry.get("name") == name:
            return entry
    raise WeightsError(f"model {name!r} is not in the manifest")


def load_model(name: str | None = None, models_dir: str | Path | None = None) -> nn.Module:
    """Load a manifest model (default: the default one), verifying its SHA-256."""
    folder = Path(models_dir) if models_dir is not None else shipped_models_dir()
    entry = find_entry(read_manifest(folder / MANIFEST_NAME), name)
    return load_weights(
        folder / entry["file"], expected_sha256=entry["sha256"], config=entry["config"]
    )


def load_default_model(models_dir: str | Path | None = None) -> nn.Module:
    """Load the manifest's default model; `WeightsError("no shipped model: ...")` if none."""
    folder = Path(models_dir) if models_dir is not None else shipped_models_dir()
    try:
        entry = find_entry(read_manifest(folder / MANIFEST_NAME))
        if not (folder / entry["file"]).is_file():
            raise WeightsError(f"{folder / entry['file']} is missing")
    except WeightsError as exc:
        raise WeightsError(f"no shipped model: {exc}") from exc
    return load_model(entry["name"], folder)


# ------------------------------------------------------------------------- checked loading
@dataclass
class CheckedWeights:
    """A network ready for inference, with what is known about where its weights came from."""

    model: nn.Module
    input_scale: float
    pixel_mm: float | None
    """In-plane pixel size the network works at (None: use ``input_scale`` as is)."""
    info: dict[str, Any] = field(default_factory=dict)
    """name, width, arch, sha256, file, verified (bool) and verification (how, or why not)."""

    @property
    def verified(self) -> bool:
        return bool(self.info.get("verified"))


def checksum_path(path: str | Path) -> Path:
    """The SHA-256 file beside a weights file: ``<file>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + CHECKSUM_SUFFIX)


_CHECKSUM_LINE = re.compile(
    r"^\s*(?:SHA256 \((?P<bsd_name>.+)\) = (?P<bsd_hex>[0-9a-fA-F]{64})"
    r"|(?P<hex>[0-9a-fA-F]{64})(?:\s+\*?(?P<name>.+?))?)\s*$")


def read_checksum(sidecar: Path, name: str) -> str:
    """The SHA-256 that a ``sha256sum`` (or BSD ``shasum``) file gives for file ``name``."""
    try:
        lines = sidecar.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise WeightsError(f"{sidecar}: cannot read the checksum file ({exc})") from exc
    found = []
    for line in lines:
        m = _CHECKSUM_LINE.match(line)
        if m:
            listed = m.group("bsd_name") or m.group("name")
            found.append((Path(listed.replace("\\", "/")).name if listed else None,
                          (m.group("bsd_hex") or m.group("hex")).lower()))
    for listed, digest in found:
        if listed in (None, name):
            return digest
    raise WeightsError(f"{sidecar}: no SHA-256 for {name} in this checksum file")


def _shipped_entries(models_dir: Path) -> list[dict[str, Any]]:
    try:
        return list(read_manifest(models_dir / MANIFEST_NAME).get("models", []))
    except WeightsError:
        return []


def _verify_beside(path: Path, name: str, digest: str) -> tuple[bool, str, dict[str, Any]]:
    """(verified, how or why not, the manifest entry or {}) from a manifest (an entry of this
    file name or model name) or a checksum beside the file; a listed SHA-256 that differs
    raises `WeightsError`."""
    manifest_path = path.parent / MANIFEST_NAME
    if manifest_path.is_file():
        listed = [e for e in read_manifest(manifest_path).get("models", [])
                  if Path(str(e.get("file", ""))).name == path.name or e.get("name") == name]
        for entry in listed:
            if str(entry.get("sha256", "")).lower() == digest:
                return True, f"SHA-256 listed in {manifest_path}", entry
        if listed:
            raise WeightsError(
                f"{path}: its SHA-256 differs from the one {manifest_path} lists (expected "
                f"{listed[0].get('sha256')}, got {digest}); the file is damaged or was changed "
                "after the manifest was written")
    sidecar = checksum_path(path)
    if sidecar.is_file():
        listed = read_checksum(sidecar, path.name)
        if listed != digest:
            raise WeightsError(
                f"{path}: its SHA-256 differs from the one in {sidecar.name} (expected {listed}, "
                f"got {digest}); the file is damaged or was changed after the checksum was "
                "written")
        return True, f"SHA-256 in {sidecar.name}", {}
    return False, (f"no {MANIFEST_NAME} beside it lists it and it has no {sidecar.name} "
                   "checksum"), {}


def load_checked(
    weights: str | Path | None = None,
    *,
    trust_unverified: bool = False,
    models_dir: str | Path | None = None,
) -> CheckedWeights:
    """The network to analyse with: the shipped default model, or the weights file given.

    The shipped model (``weights`` None) is verified against its manifest (`load_default_model`).
    A file given by path:

    * named like a shipped model (metadata ``name``, else the file stem) must be that model,
      byte for byte (its SHA-256 equals the shipped manifest's), else it is refused;
    * any other file must be listed, with a matching SHA-256, in the ``manifest.json`` beside it
      or in its ``<file>.sha256`` checksum (written by `save_weights`); a listed SHA-256 that
      differs is always refused. With neither it is refused unless ``trust_unverified``, and is
      then marked ``verified: False`` in ``info``.

    Every tensor must hold finite values (`load_weights`). Raises `WeightsError`.
    """
    folder = Path(models_dir) if models_dir is not None else shipped_models_dir()
    if weights is None:
        model = load_default_model(folder)
        entry = find_entry(read_manifest(folder / MANIFEST_NAME))
        info = {"name": entry["name"], "width": entry["config"].get("width"),
                "arch": entry["config"].get("arch"), "sha256": entry["sha256"],
                "file": entry["file"], "verified": True,
                "verification": "the shipped model (manifest SHA-256)"}
        return CheckedWeights(model, float(entry.get("input_scale", 1)), entry.get("pixel_mm"),
                              info)
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    digest = sha256_file(path)
    meta = read_metadata(path)
    name = meta.get("name") or path.name.removesuffix(SUFFIX)
    shipped = next((e for e in _shipped_entries(folder) if e.get("name") == name), None)
    if shipped is not None:
        if str(shipped.get("sha256", "")).lower() != digest:
            raise WeightsError(
                f"{path}: claims to be {name} but its SHA-256 differs from the shipped model's "
                f"({digest[:12]}… instead of {str(shipped.get('sha256'))[:12]}…); a damaged or "
                "modified copy is not used (give a changed model a name of its own)")
        verified, how, entry = True, f"the shipped model {name} (manifest SHA-256)", shipped
    else:
        verified, how, entry = _verify_beside(path, name, digest)
        if not verified and not trust_unverified:
            raise WeightsError(
                f"{path}: {UNVERIFIED_WARNING}: {how}. Add one (sha256sum {path.name} > "
                f"{checksum_path(path).name}) or pass {TRUST_FLAG} to use it anyway "
                "(results are then marked unverified)")
    model = load_weights(path, expected_sha256=digest, config=entry.get("config"))
    scale = entry.get("input_scale", meta.get("input_scale", 1))
    pixel = entry.get("pixel_mm", meta.get("pixel_mm"))
    info = {"name": name, "width": model.width, "arch": model.arch, "sha256": digest,
            "file": str(path), "verified": verified,
            "verification": how if verified else f"not verified: {how}"}
    return CheckedWeights(model, float(scale), float(pixel) if pixel else None, info)
