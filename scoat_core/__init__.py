"""SCOAT Follow-up core: CT I/O, geometry, models, analysis and the `scoat` CLI (no GUI code)."""

__version__ = "0.1.0"

#: Version of the analysis method (lung mask, post-processing, volumetry), saved with every
#: result. Raise it when a change moves the numbers: results of another version are out of date
#: (re-analysed by ``scoat timeline``, marked in the app) even when the model is the same.
#: 2: lung mask keeps abutting consolidation and drops detached crumbs under 5 mL.
#: 3: lungs cut by the field of view stay in the mask; results say whether the lungs are whole.
#: 4: a slice geometry that does not make a whole-lung volume (sparse stack, gaps, unreadable
#:    slices) marks the result partial; conflicting duplicates split or refused; results record
#:    whether the model weights were verified.
#: 5: the network's opacity that touches a lung joins the lung mask; the opacity mask is the
#:    opacity inside the lungs (what LOV counts), no longer the opacity inside dilated lungs.
ANALYSIS_VERSION = 5
