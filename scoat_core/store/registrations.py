"""Stored registrations of the comparison, keyed by the two analyses they were computed from.

Registering a follow-up onto its baseline takes about a minute on real exams; it depends only on
the two lung masks, so it is kept in the ``registrations`` table under the pair of analysis ids.
A new analysis of either exam replaces its ``analyses`` row (a new id) and deleting an exam or a
patient deletes its analyses: the foreign keys delete the registrations with them. A row made by
another :data:`~scoat_core.followup.registration.REGISTRATION_VERSION` is not used.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence

from scoat_core.followup.comparison import TimePoint, compute_registrations
from scoat_core.followup.registration import REGISTRATION_VERSION, Registration
from scoat_core.store.base import StoreBase
from scoat_core.store.rows import _now

log = logging.getLogger(__name__)


class RegistrationsMixin(StoreBase):
    """Registrations saved and looked up by ``(baseline analysis id, follow-up analysis id)``."""

    def save_registration(self, baseline_analysis: int, followup_analysis: int,
                          reg: Registration) -> None:
        """Keep ``reg`` (follow-up onto baseline) for this pair of analyses."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO registrations (baseline_analysis, followup_analysis,"
                " created, version, registration_json) VALUES (?, ?, ?, ?, ?)",
                (baseline_analysis, followup_analysis, _now(), REGISTRATION_VERSION,
                 json.dumps(reg.to_json())))

    def registration(self, baseline_analysis: int, followup_analysis: int) -> Registration | None:
        """The stored registration of this pair (None when absent, of another version or
        unreadable)."""
        rows = self._rows("SELECT version, registration_json FROM registrations"
                          " WHERE baseline_analysis = ? AND followup_analysis = ?",
                          (baseline_analysis, followup_analysis))
        if not rows or rows[0]["version"] != REGISTRATION_VERSION:
            return None
        try:
            return Registration.from_json(json.loads(rows[0]["registration_json"]))
        except (TypeError, ValueError) as exc:
            log.warning("stored registration %s → %s unreadable: %s", baseline_analysis,
                        followup_analysis, exc)
            return None

    def registrations_for(self, points: Sequence[TimePoint], analyses: Mapping[int, int],
                          progress: Callable[[int, int], None] | None = None,
                          cancel: Callable[[], bool] | None = None,
                          problems: dict[int, str] | None = None) -> dict[int, Registration]:
        """:func:`~scoat_core.followup.comparison.compute_registrations` of ``points`` reusing
        the stored registrations and storing the new ones; ``analyses[point.key]`` is the
        analysis id of each point's masks."""
        if not points or points[0].key not in analyses:
            return compute_registrations(points, progress, cancel, problems=problems)
        base = analyses[points[0].key]
        known = {p.key: reg for p in points[1:] if p.key in analyses
                 and (reg := self.registration(base, analyses[p.key])) is not None}
        out = compute_registrations(points, progress, cancel, known=known, problems=problems)
        for key, reg in out.items():
            if key not in known and key in analyses:
                self.save_registration(base, analyses[key], reg)
        return out
