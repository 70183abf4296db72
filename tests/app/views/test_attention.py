"""Attention panel: heat-map helpers and the maps of a phantom slice with a tiny random model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 (the gui extra) is not installed")

from app.views.attention import (
    FIG5_KEYS,
    AttentionPanel,
    blend_heatmap,
    heatmap_rgba,
    node_label_html,
    turbo,
)


@pytest.fixture(scope="module")
def tiny_model():
    import torch

    from scoat_core.analysis.pipeline import LoadedModel
    from scoat_core.models.registry import create_model

    torch.manual_seed(0)
    return LoadedModel(create_model("scoat_net", width=4), pixel_mm=None, input_scale=0.5,
                       info={"name": "tiny random", "width": 4, "arch": "scoat_net"})


@pytest.fixture(scope="module")
def phantom():
    from scoat_core.phantom import make_phantom

    return make_phantom(matrix=96, z_extent_mm=120, slice_spacing_mm=5, slice_thickness_mm=5)


def test_heatmap_rgba_shape_dtype_range():
    m = np.linspace(-0.5, 1.5, 5 * 7, dtype=np.float32).reshape(5, 7)
    m[0, 0] = np.nan
    rgba = heatmap_rgba(m, alpha=0.4)
    assert rgba.shape == (5, 7, 4) and rgba.dtype == np.uint8
    assert rgba[0, 0, 3] == 0 and (rgba[..., 3].ravel()[1:] == 102).all()
    # out-of-range values are clipped to the ends of the colour map
    assert (rgba[0, 1, :3] == turbo(0.0)).all() and (rgba[-1, -1, :3] == turbo(1.0)).all()
    low, high = turbo(np.array([0.0, 1.0]))
    assert low[2] > low[0] and high[0] > high[2]  # blue-ish at 0, red-ish at 1
    with pytest.raises(ValueError, match="2-D"):
        heatmap_rgba(np.zeros((2, 2, 2)))


def test_blend_keeps_grey_where_alpha_is_zero():
    gray = np.full((4, 4), 77, np.uint8)
    out = blend_heatmap(gray, np.ones((4, 4)), alpha=0.0)
    assert out.shape == (4, 4, 3) and (out == 77).all()
    assert not (blend_heatmap(gray, np.ones((4, 4)), alpha=0.5) == 77).all()


def test_node_labels_as_in_the_paper():
    assert node_label_html("x_M^{2,2}") == "<i>x</i><sub>M</sub><sup>2,2</sup>"
    assert node_label_html("other") == "other"


def test_panel_shows_fig5_maps_of_a_phantom_slice(qtbot, tiny_model, phantom):
    panel = AttentionPanel(tiny_model)
    qtbot.addWidget(panel)
    z = phantom.ct.shape[0] // 2
    with qtbot.waitSignal(panel.maps_ready, timeout=20000) as blocker:
        panel.set_volume(phantom.ct, z)
    assert blocker.args == [z]
    assert set(panel.maps) == {"x_M^{1,1}", "x_M^{2,1}", "x_M^{1,2}", "x_M^{3,1}", "x_M^{2,2}",
                               "x_M^{1,3}"}
    for m in panel.maps.values():
        assert m.shape == phantom.ct.shape[1:] and m.min() >= 0 and m.max() <= 1
    assert panel.shown_keys() == list(FIG5_KEYS)
    images = [w for w in panel.findChildren(type(panel.status)) if w.pixmap() and
              not w.pixmap().isNull() and w is not panel.bar]
    assert len(images) == 3
    captions = {w.text() for w in panel.findChildren(type(panel.status))}
    assert {node_label_html(k) for k in FIG5_KEYS} <= captions
    assert "tiny random" in panel.status.text()
    overlay = panel.map_rgba("x_M^{1,1}")
    assert overlay is not None and overlay.shape == (*phantom.ct.shape[1:], 4)

    panel.all_nodes.setChecked(True)
    qtbot.wait(10)
    images = [w for w in panel.findChildren(type(panel.status)) if w.pixmap() and
              not w.pixmap().isNull() and w is not panel.bar and w.isVisibleTo(panel)]
    assert len(images) == 6
    panel.all_nodes.setChecked(False)


def test_scrolling_computes_only_the_last_slice(qtbot, tiny_model, phantom):
    panel = AttentionPanel(tiny_model)
    qtbot.addWidget(panel)
    shown: list[int] = []
    panel.maps_ready.connect(shown.append)
    panel.set_volume(phantom.ct, 3)
    for z in (4, 5, 6, 7):
        panel.set_slice(z)
    qtbot.waitUntil(lambda: shown == [7], timeout=20000)
    qtbot.wait(300)
    assert shown == [7] and panel.maps_z == 7


def test_model_failure_is_shown_not_raised(qtbot, phantom):
    from scoat_core.errors import UserError

    def no_model():
        raise UserError("no model file: resources/models/missing.safetensors")

    panel = AttentionPanel(no_model)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.failed, timeout=10000):
        panel.set_volume(phantom.ct)
    assert panel.status.text() == ("Attention maps unavailable: no model file: "
                                   "resources/models/missing.safetensors")
