"""plotting: pure functions that draw what they are given."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from tms_tutorial import plotting


def test_feature_arrows_end_at_the_columns_of_W():
    W = torch.tensor([[[1.0, 0.0, -0.5], [0.0, 1.0, 0.5]], [[0.2, 0.3, 0.0], [0.1, -0.4, 0.9]]])
    fig = plotting.plot_feature_arrows(W, importance=[1.0, 0.9, 0.8], titles=["a", "b"])
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    for k, ax in enumerate(fig.axes):
        arrows = [line for line in ax.get_lines() if (line.get_gid() or "").startswith("feature-")]
        ends = np.array([[line.get_xdata()[1], line.get_ydata()[1]] for line in arrows])
        assert np.allclose(ends, W[k].T.numpy())
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]


def test_feature_arrows_need_two_hidden_dimensions():
    with pytest.raises(ValueError, match="n_hidden = 2"):
        plotting.plot_feature_arrows(torch.zeros(1, 3, 5))
    with pytest.raises(ValueError, match="titles"):
        plotting.plot_feature_arrows(torch.zeros(2, 2, 5), titles=["only one"])


def test_standard_panel_shows_WtW_bias_and_norms():
    W = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.5, 0.0]]])
    b = torch.tensor([[0.0, 0.1, -0.2]])
    fig = plotting.plot_standard_panel(W, b, titles=["dense"])
    heat, bias, bars = fig.axes[:3]
    assert np.allclose(heat.images[0].get_array(), (W[0].T @ W[0]).numpy())
    assert np.allclose(bias.images[0].get_array()[:, 0], b[0].numpy())
    assert np.allclose([patch.get_width() for patch in bars.patches], [1.0, 0.5, 0.0])


def test_standard_panel_checks_b():
    with pytest.raises(ValueError, match="b must have shape"):
        plotting.plot_standard_panel(torch.zeros(2, 2, 3), torch.zeros(2, 4))
