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


def test_feature_arrows_key_names_each_feature_and_dashes_features_not_represented():
    W = torch.tensor([[[1.0, 0.0, -0.45], [0.0, 1.0, 0.0]]])
    fig = plotting.plot_feature_arrows(W, colors=["red", "green", "blue"], labels=["f1", "f2", "f3"], min_norm=0.5)
    arrows = [line for line in fig.axes[0].get_lines() if (line.get_gid() or "").startswith("feature-")]
    assert [line.get_linestyle() for line in arrows] == ["-", "-", "--"]  # feature 3 (length 0.45) is dashed
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts[:3] == ["f1", "f2", "f3"] and "not represented" in texts[3]
    plt.close(fig)
    with pytest.raises(ValueError, match="labels"):
        plotting.plot_feature_arrows(W, labels=["one"])
    with pytest.raises(ValueError, match="min_norm"):
        plotting.plot_feature_arrows(W, min_norm=-1.0)


def test_phase_diagrams_two_to_a_row_with_the_key_in_the_empty_slot():
    grid = np.array([[0, 1], [2, -1]])
    fig = plotting.plot_phase_diagrams([grid] * 3, [1.0, 0.1], [0.5, 2.0], ["a", "b", "c"], titles=["x", "y", "z"])
    assert len(fig.axes) == 4 and not fig.axes[3].axison
    assert [t.get_text() for t in fig.axes[3].get_legend().get_texts()] == ["a", "b", "c", "other"]
    plt.close(fig)
    fig = plotting.plot_phase_diagrams([grid] * 2, [1.0, 0.1], [0.5, 2.0], ["a", "b", "c"])
    assert len(fig.axes) == 2 and len(fig.legends) == 1
    plt.close(fig)
    with pytest.raises(ValueError, match="ncols"):
        plotting.plot_phase_diagrams([grid], [1.0, 0.1], [0.5, 2.0], ["a"], ncols=0)


def test_standard_panel_shows_WtW_bias_and_norms():
    W = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.5, 0.0]]])
    b = torch.tensor([[0.0, 0.1, -0.2]])
    fig = plotting.plot_standard_panel(W, b, titles=["dense"])
    heat, bias, bars = fig.axes[:3]
    assert np.allclose(heat.images[0].get_array(), (W[0].T @ W[0]).numpy())
    assert np.allclose(bias.images[0].get_array()[:, 0], b[0].numpy())
    assert np.allclose([patch.get_width() for patch in bars.patches], [1.0, 0.5, 0.0])


def test_standard_panel_and_feature_graphs_wrap_into_rows():
    W, b = torch.randn(5, 2, 6), torch.zeros(5, 6)
    one_row = plotting.plot_standard_panel(W, b)
    wrapped = plotting.plot_standard_panel(W, b, ncols=2)
    assert len(wrapped.axes) == len(one_row.axes) == 3 * 5 + 2  # heat map, bias, bars per model; two colour bars
    heats = [ax for ax in wrapped.axes if ax.get_images() and ax.get_images()[0].get_array().shape == (6, 6)]
    assert len({round(ax.get_position().y0, 3) for ax in heats}) == 3  # rows of 2, 2 and 1
    plt.close("all")
    fig = plotting.plot_feature_graphs(torch.randn(3, 2, 5), ncols=2)
    assert len(fig.axes) == 4 and not fig.axes[3].axison
    plt.close(fig)
    with pytest.raises(ValueError, match="ncols"):
        plotting.plot_standard_panel(W, b, ncols=0)


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


def test_feature_dimensionalities_draw_one_dot_per_feature_and_point_in_each_panel():
    x = [1.0, 1.5, 2.0]
    dims = [np.full((3, 4), 0.5), np.linspace(0, 1, 12).reshape(3, 4)]
    fig = plotting.plot_feature_dimensionalities(x, dims, titles=["a", "b"])
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == ["a", "b"]
    for ax, d in zip(fig.axes, dims):
        (dots,) = ax.collections
        assert np.allclose(np.sort(dots.get_offsets()[:, 1]), np.sort(d.ravel()))
    plt.close(fig)
    with pytest.raises(ValueError, match="len\\(inverse_density\\)"):
        plotting.plot_feature_dimensionalities(x, [np.zeros((2, 4))], titles=["a"])


def test_n2_point_shows_the_weights_and_the_candidates():
    fig = plotting.plot_n2_point([1.0, -1.0], [0.0, 0.0], "antipodal pair", [0.03, 0.03, 0.003], 0.0028, 0.0029,
                                 "antipodal pair", title="p = 0.1")
    bars = [patch.get_height() for patch in fig.axes[1].patches]
    assert np.allclose(bars, [0.03, 0.03, 0.003, 0.0028])
    plt.close(fig)
    with pytest.raises(ValueError, match="candidate_losses"):
        plotting.plot_n2_point([1.0, -1.0], [0.0, 0.0], "x", [0.1, 0.2], 0.1, 0.1, "x")


def test_phase_cut_draws_every_curve_and_both_weights():
    p = torch.logspace(-1, 0, 5)
    fig = plotting.plot_phase_cut(p, {"a": (p, "red", "-"), "b": (p ** 2, "blue", "--")}, p / 2, torch.ones(5, 2),
                                  crossings=[(0.3, "-")])
    top, bottom = fig.axes
    assert [t.get_text() for t in top.get_legend().get_texts()] == ["a", "b", "learned (best of fits)"]
    assert len(bottom.get_lines()) == 3  # |W_1|, |W_2| and the crossing
    plt.close(fig)
    with pytest.raises(ValueError, match="learned_weights"):
        plotting.plot_phase_cut(p, {}, p, torch.ones(4, 2))


def test_branch_losses_draw_each_branch_only_where_it_exists():
    x = torch.tensor([0.1, 0.2, 0.4])
    fig = plotting.plot_branch_losses(x, {"kept": (torch.tensor([1.0, 2.0, 3.0]), [True, False, True], "red")},
                                      xlabel="x")
    assert np.allclose(fig.axes[0].get_lines()[0].get_xdata(), [0.1, 0.4])
    plt.close(fig)


def test_gram_and_pair_collapse_figures():
    fig = plotting.plot_gram(torch.eye(3)[:2], groups=[("A", 0, 1), ("B", 2, 2)])
    assert np.allclose(fig.axes[0].get_images()[0].get_array(), torch.eye(3)[:2].T @ torch.eye(3)[:2])
    plt.close(fig)
    fig = plotting.plot_pair_collapse(torch.tensor([0.01, 0.1, 1.0]), torch.zeros(3, 2), torch.tensor([0, 1, 2]),
                                      reference=[(0.05, 0.15, 1)])
    assert len(fig.axes[0].get_lines()) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="cosines"):
        plotting.plot_pair_collapse(torch.tensor([0.1]), torch.zeros(2, 2), torch.tensor([0]))


def test_chapter_four_figures_draw_and_refuse_mismatched_shapes():
    steps = [0, 1, 3, 10, 30, 100]
    D = torch.rand(6, 4)
    jumps = [{"feature": 2, "step_before": 3, "step_after": 30, "level_before": 0.2, "level_after": 0.5}]
    fig = plotting.plot_training_dynamics(steps, D, steps, torch.linspace(1, 0.5, 6), jumps, title="t")
    top, bottom = fig.axes
    assert top.get_yscale() == "log" and bottom.get_xscale() == "log"
    assert [line.get_label() for line in bottom.get_lines() if not line.get_label().startswith("_")] == ["feature 2"]
    with pytest.raises(ValueError, match="D must have shape"):
        plotting.plot_training_dynamics(steps, D[:5], steps, torch.ones(6))
    with pytest.raises(ValueError, match="loss must have one value per loss step"):
        plotting.plot_training_dynamics(steps, D, steps, torch.ones(5))

    W = torch.randn(2, 3, 6)
    fig = plotting.plot_geometry_3d(W, titles=["a", "b"], labels=[str(i) for i in range(6)])
    assert len(fig.axes) == 4  # a 3D panel and a cosine map per model
    cosine = fig.axes[1].get_images()[0].get_array()
    assert np.allclose(np.diag(cosine), 1.0)
    with pytest.raises(ValueError, match="n_hidden = 3"):
        plotting.plot_geometry_3d(torch.randn(1, 2, 6))

    fig = plotting.plot_vulnerability(torch.tensor([1.0, 2.0, 3.0]), {"a": torch.tensor([0.1, 0.2, 0.3])},
                                      reference=0.1)
    assert len(fig.axes[0].get_lines()) == 2
    with pytest.raises(ValueError, match="one value per model"):
        plotting.plot_vulnerability(torch.tensor([1.0, 2.0]), {"a": torch.tensor([0.1])})

    run = {"features per dimension": [3.0, 2.0], "effective features": [10.0, 8.0], "vulnerability": [0.2, 0.1]}
    fig = plotting.plot_adversarial_training([0.0, 0.5], {"m = 5": run})
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match="one value per attack size"):
        plotting.plot_adversarial_training([0.0, 0.5, 1.0], {"m = 5": run})
    plt.close("all")


def test_neuron_figures_draw_a_bar_segment_per_weight_and_mark_neurons():
    W = torch.zeros(2, 3, 4)
    W[0, 0, 0], W[0, 1, 1], W[0, 1, 2], W[0, 2, 3] = 1.0, 0.8, -0.6, 0.9
    W[1] = W[0] * 2
    fig = plotting.plot_neuron_weights(W, ["a", "b"], ["x", "y"])
    assert len(plotting.plot_neuron_weights(W, columns=1).axes) == 4  # one model per row
    assert len(fig.axes) == 4
    bars = list(fig.axes[1].patches)  # the first model's bars, under its matrix
    assert sorted(round(bar.get_height(), 3) for bar in bars) == [-0.6, 0.8, 0.9, 1.0]
    with pytest.raises(ValueError, match="labels"):
        plotting.plot_neuron_weights(W, labels=["x"])
    W1 = torch.randn(2, 5, 8)
    fig = plotting.plot_neuron_bars(W1, ["p = 1", "p = 0.1"], marked=[[0], []])
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert max(abs(h) for h in heights) == pytest.approx(1.0)  # each neuron rescaled to a largest |weight| of 1
    assert len(fig.axes[0].get_lines()) >= 1  # the marker
    with pytest.raises(ValueError, match="marked"):
        plotting.plot_neuron_bars(W1, marked=[[0]])


def test_chapter_six_figures_draw_what_they_are_given():
    lambdas = [0.0, 0.01, 0.1]
    fig = plotting.plot_penalty_sweep(lambdas, [10, 8, 5], [10, 6, 0], [2.0, 1.5, 1.0], [0.001, 0.002, 0.005],
                                      [0.001, 0.003, 0.009], n_hidden=5, yardstick=0.004)
    assert len(fig.axes) == 3 and fig.axes[0].get_xticklabels()[0].get_text() == "0"
    counts = fig.axes[0].get_lines()[0]
    assert list(counts.get_ydata()) == [10, 8, 5] and counts.get_xdata()[0] < 0.01
    plt.close(fig)
    with pytest.raises(ValueError, match="shape of lambdas"):
        plotting.plot_penalty_sweep(lambdas, [1, 2], [0, 0, 0], [1, 1, 1], [1, 1, 1], [1, 1, 1], n_hidden=5)
    fig = plotting.plot_compressed_sensing({"run": ([0.1, 0.01], [3.0, 20.0])}, caps={"run": 40.0})
    lines = fig.axes[0].get_lines()
    assert np.allclose(lines[1].get_xdata(), [10, 100]) and np.allclose(lines[1].get_ydata(), [3, 20])
    assert np.allclose(lines[0].get_ydata()[0], 1 / (0.01 * np.log(100)), rtol=1e-6)  # the bound at the sparsest
    plt.close(fig)
    W = torch.tensor([[1.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    fig = plotting.plot_sae_directions(W, torch.eye(2)[None].repeat(2, 1, 1), ["a", "b"],
                                       dead=torch.tensor([[False, True], [False, False]]))
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    assert len(fig.axes[0].texts) == 5  # three feature arrows and two latent arrows
    plt.close(fig)
    with pytest.raises(ValueError, match="W_dec"):
        plotting.plot_sae_directions(W, torch.ones(1, 2, 3))
    sizes = torch.tensor([[0.5, 0.0], [0.0, 0.8]])
    fig = plotting.plot_sae_readout(sizes, {"relu": torch.tensor([[0.3, 0.1], [0.0, 0.6]])}, thresholds={"relu": 0.2})
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "relu"
    plt.close(fig)
    with pytest.raises(ValueError, match="shape of sizes"):
        plotting.plot_sae_readout(sizes, {"relu": torch.zeros(3, 2)})


def test_sparsity_fidelity_draws_every_fit_and_a_line_through_each_settings_mean():
    l0 = np.array([[2.0, 2.2], [1.0, 1.1], [0.5, 0.4]])
    fvu = np.array([[0.05, 0.06], [0.15, 0.13], [0.5, 0.48]])
    fig = plotting.plot_sparsity_fidelity({"relu": (l0, fvu), "topk": (l0, fvu / 2)})
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and ax.get_xscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_xdata(), l0.mean(axis=1))
    assert sum(len(c.get_offsets()) for c in ax.collections) == 2 * l0.size
    with pytest.raises(ValueError, match="one shape"):
        plotting.plot_sparsity_fidelity({"relu": (l0, fvu[:2])})
    with pytest.raises(ValueError, match="L0 must be > 0"):
        plotting.plot_sparsity_fidelity({"relu": (l0 * 0, fvu)})
    plt.close("all")
