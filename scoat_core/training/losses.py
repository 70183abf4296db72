"""Losses of the paper's Table I, on logits (N, 1, H, W) and binary targets of the same shape.

* ``bce``: binary cross-entropy on logits.
* ``dice``: 1 − 2·Σ(Y·Ŷ) / (ΣY² + ΣŶ²) over the whole batch (eq. 7's batch-level Dice term).
* ``bce_dice``: eq. 7, L_bce + α·L_dice with α = 0.5 by default (the paper's choice). Eq. 7
  writes the Dice part as −2α·Y·Ŷ/(Y²+Ŷ²); we use α·(1 − dice), the same gradient shifted by a
  constant so that the loss is non-negative.
* ``iou``: 1 − soft Jaccard over the batch.  ``mae``: mean |Ŷ − Y|.
* ``focal``: binary focal loss, γ = 2, α = 0.25 (Lin et al.).

With deep supervision a list of logit maps is given; the loss is their mean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

EPS = 1e-6
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, target)


def dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits)
    return 1 - (2 * (p * target).sum() + EPS) / ((p * p).sum() + (target * target).sum() + EPS)


def make_bce_dice(alpha: float = 0.5) -> Loss:
    def bce_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return bce(logits, target) + alpha * dice(logits, target)

    return bce_dice


def iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits)
    inter = (p * target).sum()
    return 1 - (inter + EPS) / (p.sum() + target.sum() - inter + EPS)


def mae(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (torch.sigmoid(logits) - target).abs().mean()


def focal(
    logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, alpha: float = 0.25
) -> torch.Tensor:
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_t * (1 - p_t) ** gamma * ce).mean()


LOSSES: dict[str, Callable[..., Loss]] = {
    "bce": lambda: bce,
    "dice": lambda: dice,
    "bce_dice": make_bce_dice,
    "iou": lambda: iou,
    "mae": lambda: mae,
    "focal": lambda: focal,
}


def get_loss(name: str, **kwargs: float) -> Loss:
    """A loss by name (see the module docstring); raises KeyError listing the valid names."""
    try:
        factory = LOSSES[name]
    except KeyError:
        raise KeyError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}") from None
    return factory(**kwargs)


def supervised(loss: Loss, outputs: torch.Tensor | Sequence[torch.Tensor], target: torch.Tensor):
    """Apply ``loss`` to one logit map, or average it over deep-supervision outputs."""
    if isinstance(outputs, torch.Tensor):
        return loss(outputs, target)
    return torch.stack([loss(o, target) for o in outputs]).mean()
