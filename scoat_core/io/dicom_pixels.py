"""The pixels of a DICOM series: decoding, the rescale to HU, and whether the values are HU.

Pixels are decoded by pydicom (``ds.pixel_array``) and rescaled to HU with RescaleSlope and
RescaleIntercept (per slice, or per frame from the functional groups of enhanced images). The
array is int16 when the rescaled values are integers that fit, float32 otherwise. A compressed
transfer syntax without its decoder installed is refused naming the package it needs.

Trust rule (issue 14: never a plausible wrong number): **values that cannot be Hounsfield
units** (non-finite, beyond ±:data:`HU_ABS_LIMIT`, or a slice with less than
:data:`HU_MIN_FRACTION` of its pixels, fill value aside, within :data:`HU_PLAUSIBLE`) make the
volume not HU (``is_hu`` False), whatever RescaleType says.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from scoat_core.io.dicom_frames import Frame, Loaded, one_line, rel
from scoat_core.io.errors import DecodeError, TruncatedFileError
from scoat_core.io.scan import functional_group_value

#: Hounsfield units of real CT pixels (air with noise to dense bone), the fill value aside.
HU_PLAUSIBLE = (-1200.0, 4000.0)
#: Each slice needs at least this fraction of its pixels (fill value aside) in HU_PLAUSIBLE.
HU_MIN_FRACTION = 0.9
#: No CT value in HU reaches this magnitude (uint16 stored values with an intercept stay below).
HU_ABS_LIMIT = 1e5

# Packages that decode each compressed transfer syntax (pydicom delegates to plugins).
_LIBJPEG = "pylibjpeg-libjpeg (with pylibjpeg)"
_OPENJPEG = "pylibjpeg-openjpeg (with pylibjpeg)"
_JPEG = ("JPEG", f"pillow, {_LIBJPEG} or python-gdcm")
_JPEG_LOSSLESS = ("JPEG Lossless", f"{_LIBJPEG} or python-gdcm")
_JPEG_LS = ("JPEG-LS", f"{_LIBJPEG}, pyjpegls or python-gdcm")
_J2K = ("JPEG 2000", f"{_OPENJPEG} or python-gdcm")
_HTJ2K = ("HTJ2K", _OPENJPEG)
_DECODER_PACKAGES = {
    "1.2.840.10008.1.2.4.50": _JPEG,
    "1.2.840.10008.1.2.4.51": _JPEG,
    "1.2.840.10008.1.2.4.57": _JPEG_LOSSLESS,
    "1.2.840.10008.1.2.4.70": _JPEG_LOSSLESS,
    "1.2.840.10008.1.2.4.80": _JPEG_LS,
    "1.2.840.10008.1.2.4.81": _JPEG_LS,
    "1.2.840.10008.1.2.4.90": _J2K,
    "1.2.840.10008.1.2.4.91": _J2K,
    "1.2.840.10008.1.2.4.201": _HTJ2K,
    "1.2.840.10008.1.2.4.202": _HTJ2K,
    "1.2.840.10008.1.2.4.203": _HTJ2K,
    "1.2.840.10008.1.2.5": ("RLE", "pylibjpeg-rle (with pylibjpeg) or numpy"),
}


# ------------------------------------------------------------------------ decoding
def _transfer_syntax(ds: Dataset) -> UID:
    return UID(str(ds.file_meta.get("TransferSyntaxUID") or ExplicitVRLittleEndian))


def _decoder_problem(ds: Dataset) -> str | None:
    """Why pydicom cannot decode this transfer syntax here (None when it can)."""
    ts = _transfer_syntax(ds)
    if not ts.is_compressed:
        return None
    try:
        from pydicom.pixels import get_decoder

        decoder = get_decoder(ts)
    except (NotImplementedError, ValueError, KeyError):
        return f"transfer syntax {ts.name} ({ts}) has no pixel data decoder in pydicom"
    if decoder.is_available:
        return None
    name, packages = _DECODER_PACKAGES.get(str(ts), (ts.name, ""))
    if not packages:
        packages = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
    return f"{name} pixel data needs {packages} (transfer syntax {ts}); install one of them"


def decode(loaded: Loaded) -> np.ndarray:
    """Stored pixel values as (frames, rows, columns); typed errors naming the file."""
    ds, path = loaded.ds, loaded.path
    try:
        arr = ds.pixel_array
    except Exception as exc:  # decoders raise many types; each becomes one typed error
        text = one_line(exc)
        if "less than expected" in text or "too short" in text.lower():
            raise TruncatedFileError(path, f"truncated pixel data ({text})") from exc
        problem = _decoder_problem(ds)
        if problem is None or "missing dependencies" not in text:
            problem = f"cannot decode {_transfer_syntax(ds).name} pixel data ({text})"
        raise DecodeError(path, problem) from exc
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    expected = (len(loaded.frames), loaded.frames[0].rows, loaded.frames[0].columns)
    if arr.shape != expected:
        raise DecodeError(path, f"decoded pixel array {arr.shape} != expected {expected}")
    return arr


def check_decoders(loaded: list[Loaded]) -> None:
    seen: set[str] = set()
    for item in loaded:
        ts = str(_transfer_syntax(item.ds))
        if ts in seen:
            continue
        seen.add(ts)
        problem = _decoder_problem(item.ds)
        if problem:
            raise DecodeError(item.path, problem)


# ------------------------------------------------------------------------ rescale
def integral_rescale(frames: list[Frame]) -> bool:
    return all(float(f.slope).is_integer() and float(f.intercept).is_integer() for f in frames)


def rescale_into(out: np.ndarray, k: int, stored: np.ndarray, f: Frame) -> np.ndarray:
    """Write HU of one frame into ``out[k]``; returns ``out`` (converted to float32 when the
    integer result would not fit int16)."""
    if out.dtype == np.int16:
        lo, hi = int(stored.min()), int(stored.max())
        ends = [lo * f.slope + f.intercept, hi * f.slope + f.intercept]
        if min(ends) >= -32768 and max(ends) <= 32767:
            if f.slope == 1:
                np.add(stored, np.int32(f.intercept), out=out[k], casting="unsafe")
            else:
                out[k] = stored.astype(np.int32) * int(f.slope) + int(f.intercept)
            return out
        out = out.astype(np.float32)
    out[k] = stored.astype(np.float64) * f.slope + f.intercept
    return out


# ------------------------------------------------------------------------ HU values
def is_hu(ds: Dataset, frames: list[Frame]) -> bool:
    """CT with a rescale to Hounsfield units (RescaleType absent, HU or "Hounsfield ...")."""
    if str(ds.get("Modality", "")).upper() != "CT":
        return False
    rescale_type = ds.get("RescaleType")
    if rescale_type is None:
        rescale_type = functional_group_value(ds, "PixelValueTransformationSequence", "RescaleType")
    has_rescale = (
        "RescaleIntercept" in ds
        or any(f.intercept != 0 for f in frames)
        or (
            functional_group_value(ds, "PixelValueTransformationSequence", "RescaleIntercept")
            is not None
        )
    )
    return has_rescale and _names_hounsfield(str(rescale_type or ""))


def _names_hounsfield(rescale_type: str) -> bool:
    """RescaleType absent, "HU", or a spelling of Hounsfield units seen in the wild."""
    text = rescale_type.strip().upper()
    return text in ("", "HU") or text.startswith(("HOUNSFIELD", "HOUNDSFIELD", "HU "))


def hu_problem(array: np.ndarray, frames: list[Frame], where: str) -> str | None:
    """Why values said to be HU cannot be Hounsfield units (see ``HU_*``); None when they can.

    Checked per slice, so that one slice with a broken rescale is found; the fill value (the
    slice minimum: padding outside the field of view, clipped air) is left out of the fraction.
    """
    lo, hi = HU_PLAUSIBLE
    for k in range(array.shape[0]):
        s = array[k]
        where_k = f"slice {k} ({rel(frames[k].file, where)})"
        if s.dtype.kind == "f" and not np.isfinite(s).all():
            return f"{where_k} has non-finite values"
        smin, smax = float(s.min()), float(s.max())
        if max(-smin, smax) > HU_ABS_LIMIT:
            return f"{where_k} has values from {smin:.3g} to {smax:.3g}"
        valid = s != s.min()
        n = int(np.count_nonzero(valid))
        if n == 0:
            if smin > hi:
                return f"{where_k} is {smin:g} everywhere"
            continue
        inside = int(np.count_nonzero(valid & (s >= lo) & (s <= hi)))
        if inside < HU_MIN_FRACTION * n:
            return (
                f"only {inside / n:.0%} of the pixels of {where_k} lie within {lo:g}..{hi:g} "
                f"(values {smin:.4g}..{smax:.4g})"
            )
    return None
