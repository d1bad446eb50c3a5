"""plotting: pure functions that draw what they are given."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
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


def test_feature_arrows_take_a_colour_per_feature():
    W = torch.tensor([[[1.0, 0.0, -1.0], [0.0, 1.0, 0.0]]])
    fig = plotting.plot_feature_arrows(W, colors=["red", "red", "blue"])
    arrows = [line for line in fig.axes[0].get_lines() if (line.get_gid() or "").startswith("feature-")]
    assert [matplotlib.colors.to_hex(line.get_color()) for line in arrows] == ["#ff0000", "#ff0000", "#0000ff"]
    plt.close(fig)
    with pytest.raises(ValueError, match="one colour per feature"):
        plotting.plot_feature_arrows(W, colors=["red"])
    with pytest.raises(ValueError, match="not both"):
        plotting.plot_feature_arrows(W, importance=[1, 1, 1], colors=["red"] * 3)


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


def test_feature_graphs_draw_one_node_per_learned_feature():
    from matplotlib.collections import PathCollection

    digon = torch.tensor([[1.0, -1.0]])
    angles = torch.arange(3) * 2 * torch.pi / 3
    triangle = torch.stack([torch.cos(angles), torch.sin(angles)])
    W = torch.block_diag(digon, triangle, torch.zeros(1, 1))[None]  # 5 learned features, 1 not
    fig = plotting.plot_feature_graphs(W, titles=["example"])
    ax = fig.axes[0]
    nodes = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
    assert nodes == 5
    from matplotlib.collections import LineCollection

    edges = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(edges) == 1 and len(edges[0].get_segments()) == 1 + 3  # the digon's edge and the triangle's three
    assert "5 learned, 1 not" in ax.get_title()
    plt.close(fig)


def test_dimensionality_figure_plots_every_feature():
    W = torch.stack([torch.eye(3)[:2], torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])])  # (2, 2, 3)
    fig = plotting.plot_dimensionality([1.0, 10.0], W)
    left, right = fig.axes
    assert np.allclose(left.lines[-1].get_ydata(), [1.0, 2 / 3])  # D* = m / ‖W‖_F^2
    assert len(right.collections[0].get_offsets()) == 6
    with pytest.raises(ValueError, match="inverse_density"):
        plotting.plot_dimensionality([1.0], W)
    plt.close(fig)
