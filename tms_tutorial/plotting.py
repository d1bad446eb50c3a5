"""Pure plotting functions: arrays (or tensors) in, a matplotlib Figure out.

One function per kind of figure in the paper. Nothing here trains or stores
state; the widgets call these to draw each frame.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from . import metrics
from ._checks import check_number, check_positive_int, check_weights

WTW_CMAP = "RdBu_r"  # negative blue, positive red, 0 white
# black: no interference; yellow: strongly superposed (inferno without its near-white end)
SUPERPOSITION_CMAP = ListedColormap(plt.get_cmap("inferno")(np.linspace(0.0, 0.9, 256)))
IMPORTANCE_CMAP = "viridis"  # yellow: most important


def _titles(titles: Optional[Sequence[str]], count: int) -> Sequence[str]:
    if titles is None:
        return [""] * count
    if len(titles) != count:
        raise ValueError(f"titles must have one entry per instance ({count}); got {len(titles)}")
    return titles


def _plane(ax, limit: float, title: str, fontsize: int) -> None:
    """A square panel of the hidden plane from -limit to limit, without ticks."""
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=fontsize)


def plot_feature_arrows(
    W,
    importance=None,
    titles: Optional[Sequence[str]] = None,
    ncols: Optional[int] = None,
    panel_size: float = 2.6,
    colors: Optional[Sequence] = None,
    labels: Optional[Sequence[str]] = None,
    min_norm: Optional[float] = None,
) -> Figure:
    """Each feature's direction W_i in the plane, one panel per instance.

    W: (n_instances, 2, n_features). importance: (n_features,) or
    (n_instances, n_features), sets the colours (brightest = most important);
    without it features are coloured by index. colors: one matplotlib colour per
    feature instead (e.g. by correlated set); give importance or colors, not both.
    labels: one name per feature, drawn as a key beside the panels (features with the
        same name, e.g. the members of a set, share one entry). min_norm:
    features shorter than this (not represented) are drawn thin and dashed, so that
    a dropped feature's short arrow does not read as part of the geometry.
    """
    W = check_weights(W).numpy()
    n_instances, n_hidden, n_features = W.shape
    if n_hidden != 2:
        raise ValueError(f"W must have n_hidden = 2 to be drawn in the plane; got n_hidden={n_hidden}")
    if colors is not None:
        if importance is not None:
            raise ValueError("give importance or colors, not both")
        colors = list(colors)
        if len(colors) != n_features:
            raise ValueError(f"colors must have one colour per feature ({n_features}); got {len(colors)}")
    if labels is not None and len(labels) != n_features:
        raise ValueError(f"labels must have one name per feature ({n_features}); got {len(labels)}")
    if min_norm is not None and not min_norm >= 0:
        raise ValueError(f"min_norm must be a length >= 0; got {min_norm!r}")
    if importance is None:
        colour_values = np.broadcast_to(-np.arange(n_features, dtype=float), (n_instances, n_features))
    else:
        colour_values = np.broadcast_to(np.asarray(torch.as_tensor(importance), dtype=float), (n_instances, n_features))
    titles = _titles(titles, n_instances)
    ncols = ncols or n_instances
    nrows = -(-n_instances // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows), squeeze=False)
    cmap = plt.get_cmap(IMPORTANCE_CMAP)
    limit = max(1.2, 1.1 * float(np.abs(W).max()))
    circle = np.linspace(0, 2 * np.pi, 200)
    key: dict = {}  # label -> legend handle
    for k, ax in enumerate(axes.flat):
        if k >= n_instances:
            ax.axis("off")
            continue
        values = colour_values[k]
        span = np.ptp(values) or 1.0
        ax.plot(np.cos(circle), np.sin(circle), color="0.85", lw=0.8, zorder=0)
        ax.axhline(0, color="0.9", lw=0.6, zorder=0)
        ax.axvline(0, color="0.9", lw=0.6, zorder=0)
        for i in range(n_features):
            colour = colors[i] if colors is not None else cmap(0.1 + 0.85 * (values[i] - values.min()) / span)
            faint = min_norm is not None and np.hypot(W[k, 0, i], W[k, 1, i]) < min_norm
            ax.plot([0, W[k, 0, i]], [0, W[k, 1, i]], color=colour, lw=1.2 if faint else 2, ls="--" if faint else "-",
                    gid=f"feature-{i}")
            if k == 0 and labels is not None and labels[i] not in key:  # features sharing a name share an entry
                key[labels[i]] = plt.Line2D([], [], color=colour, lw=2)
            ax.scatter(W[k, 0, i], W[k, 1, i], color=colour, s=10 if faint else 22, zorder=3)
        _plane(ax, limit, titles[k], fontsize=10)
    fig.tight_layout()
    if labels is not None:
        handles, names = list(key.values()), list(key)
        if min_norm is not None:
            handles.append(plt.Line2D([], [], color="0.4", lw=1.2, ls="--"))
            names.append(f"dashed: not represented\n(length < {min_norm:g})")
        fig.legend(handles, names, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=9)
    return fig


def plot_standard_panel(
    W,
    b,
    titles: Optional[Sequence[str]] = None,
    panel_width: float = 2.0,
    ncols: Optional[int] = None,
) -> Figure:
    """The paper's summary of each model, one column per instance, ncols columns to a row (default: all).

    Top: W^T W as a heat map (which features share directions; the diagonal is
    ‖W_i‖^2) with the bias b beside it. Bottom: a bar per feature of ‖W_i‖,
    coloured by its superposition sum_{j≠i} (Ŵ_i·W_j)^2 (black = a dimension
    of its own, yellow = strongly superposed).

    W: (n_instances, n_hidden, n_features); b: (n_instances, n_features).
    """
    W_t = check_weights(W)
    b = torch.as_tensor(b).detach().float()
    n_instances, _, n_features = W_t.shape
    if b.shape != (n_instances, n_features):
        raise ValueError(f"b must have shape (n_instances, n_features) = {(n_instances, n_features)}; got {tuple(b.shape)}")
    titles = _titles(titles, n_instances)
    wtw = (W_t.transpose(1, 2) @ W_t).numpy()  # (I, n, n)
    norms = metrics.feature_norms(W_t).numpy()
    interference = metrics.superposition(W_t).numpy()
    b = b.numpy()

    ncols = n_instances if ncols is None else min(check_positive_int(ncols, "ncols"), n_instances)
    nrows = -(-n_instances // ncols)
    height = (2 * panel_width + 0.3) * nrows + 0.5 * (nrows - 1)
    fig = plt.figure(figsize=(panel_width * ncols + 0.9, height))
    grid = fig.add_gridspec(  # per row of instances: heat maps, bars, then a gap before the next row
        3 * nrows - 1, 2 * ncols + 1,
        width_ratios=[n_features, 0.12 * n_features] * ncols + [0.08 * n_features],
        height_ratios=([1, 1, 0.3] * nrows)[:-1], wspace=0.15, hspace=0.12,
        top=None if nrows == 1 else 1 - 0.5 / height,  # a fixed margin for a title, not a share of the height
    )
    heat_norm = Normalize(-1, 1)
    sup_norm = Normalize(0, 1)
    bar_limit = max(1.1, 1.05 * float(norms.max()))
    feature_index = np.arange(n_features)
    for k in range(n_instances):
        row, col = 3 * (k // ncols), k % ncols
        ax_w = fig.add_subplot(grid[row, 2 * col])
        heat = ax_w.imshow(wtw[k], cmap=WTW_CMAP, norm=heat_norm)
        ax_w.set_xticks([])
        ax_w.set_yticks([])
        ax_w.set_title(titles[k], fontsize=9)
        ax_b = fig.add_subplot(grid[row, 2 * col + 1])
        ax_b.imshow(b[k][:, None], cmap=WTW_CMAP, norm=heat_norm, aspect="auto")
        ax_b.set_xticks([])
        ax_b.set_yticks([])
        ax_bar = fig.add_subplot(grid[row + 1, 2 * col : 2 * col + 2])
        colours = SUPERPOSITION_CMAP(sup_norm(np.minimum(interference[k], 1.0)))
        ax_bar.barh(feature_index, norms[k], color=colours, height=0.8)
        ax_bar.set_ylim(n_features - 0.5, -0.5)
        ax_bar.set_xlim(0, bar_limit)
        ax_bar.set_yticks([])
        ax_bar.tick_params(labelsize=7)
        if col == 0:
            ax_w.set_ylabel(r"$W^TW$  |  $b$", fontsize=9)
            ax_bar.set_ylabel(r"$\|W_i\|$ (feature 0 on top)", fontsize=8)
        ax_bar.set_xlabel(r"$\|W_i\|$", fontsize=8)
    cax = fig.add_subplot(grid[0, -1])
    fig.colorbar(heat, cax=cax).ax.tick_params(labelsize=7)
    sax = fig.add_subplot(grid[1, -1])
    mappable = plt.cm.ScalarMappable(norm=sup_norm, cmap=SUPERPOSITION_CMAP)
    bar = fig.colorbar(mappable, cax=sax)
    bar.set_label(r"$\sum_{j\neq i}(\hat W_i\cdot W_j)^2$", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return fig


# One colour per candidate solution of the phase diagrams, and grey for "other".
PHASE_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")
OTHER_COLOR = "#bbbbbb"


def plot_phase_diagrams(
    panels: Sequence,
    densities,
    importances,
    names: Sequence[str],
    titles: Optional[Sequence[str]] = None,
    boundary=None,
    panel_size: float = 3.4,
    ncols: int = 2,
    colors: Optional[Sequence] = None,
) -> Figure:
    """Phase diagrams, ncols to a row: which solution wins at each (density, relative importance).

    panels: one array per panel of shape (len(densities), len(importances)),
        holding an index into ``names`` or -1 for "other"; densities and
        importances are the grid's axes (drawn on log scales, density falling
        to the right as in the paper's figures). boundary: optional list of
        (density, importance) curves drawn on every panel, e.g. theory's lines.
        colors: one colour per name (default PHASE_COLORS in order).
    """
    densities = np.asarray(densities, dtype=float)
    importances = np.asarray(importances, dtype=float)
    grids = [np.asarray(panel) for panel in panels]
    for grid in grids:
        if grid.shape != (len(densities), len(importances)):
            raise ValueError(
                f"each panel must have shape (len(densities), len(importances)) = "
                f"{(len(densities), len(importances))}; got {grid.shape}"
            )
    colors = list(PHASE_COLORS[: len(names)] if colors is None else colors)
    if len(names) > len(PHASE_COLORS) or len(colors) != len(names):
        raise ValueError(f"names may hold at most {len(PHASE_COLORS)} candidates, and colors one colour per name; "
                         f"got {len(names)} names and {len(colors)} colours")
    titles = _titles(titles, len(grids))
    cmap = ListedColormap([OTHER_COLOR, *colors])
    ncols = min(check_positive_int(ncols, "ncols"), len(grids))
    nrows = -(-len(grids) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols + 0.6, panel_size * nrows + 0.5),
                             squeeze=False)
    for ax in axes.flat[len(grids):]:
        ax.axis("off")

    def edges(values: np.ndarray) -> np.ndarray:  # cell edges halfway between log-spaced centres
        logs = np.log10(values)
        middle = (logs[:-1] + logs[1:]) / 2
        step = (logs[1] - logs[0]) / 2 if len(logs) > 1 else 0.5
        return 10 ** np.concatenate([[logs[0] - step], middle, [logs[-1] + step]])

    for ax, grid, title in zip(axes.flat, grids, titles):
        ax.pcolormesh(edges(densities), edges(importances), grid.T + 1, cmap=cmap, vmin=-0.5, vmax=len(names) + 0.5)
        for curve in boundary or []:
            ax.plot(*curve, color="black", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(max(edges(densities)), min(edges(densities)))  # sparser to the right
        ax.set_ylim(min(edges(importances)), max(edges(importances)))
        ax.set_xlabel("feature density 1 - S", fontsize=11)
        ax.set_ylabel("relative importance", fontsize=11)
        ax.tick_params(labelsize=10)
        ax.set_title(title, fontsize=11)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour) for colour in colors]
    handles.append(plt.Rectangle((0, 0), 1, 1, color=OTHER_COLOR))
    if len(grids) < axes.size:  # the key goes in the empty slot
        axes.flat[-1].legend(handles, [*names, "other"], loc="center", frameon=False, fontsize=11)
        fig.tight_layout()
    else:
        fig.tight_layout(rect=(0, 0.1 / nrows, 1, 1))
        fig.legend(handles, [*names, "other"], loc="lower center", ncol=min(3, len(handles)), frameon=False,
                   fontsize=10)
    return fig


GEOMETRY_COLORS = {
    "dedicated dimension": "#4c72b0",
    "tetrahedron": "#8172b3",
    "triangle": "#55a868",
    "digon": "#dd8452",
    "pentagon": "#c44e52",
    "square antiprism": "#937860",
}


def plot_feature_graphs(W, titles: Optional[Sequence[str]] = None, threshold: float = 0.2,
                        min_norm: float = 0.5, panel_size: float = 3.2, ncols: Optional[int] = None) -> Figure:
    """The paper's feature geometry graphs: one panel per instance, ncols to a row (default: all).

    Each learned feature is a node, coloured by the structure
    metrics.feature_geometry finds for it; an edge joins features with
    |W_i . W_j| > threshold, wider for larger overlaps. Each connected group
    (a tegum factor) is drawn as its own small ring. Features that are not
    learned are left out and counted in the title.
    """
    W = check_weights(W)
    names = metrics.feature_geometry(W, min_norm=min_norm, threshold=threshold)
    titles = _titles(titles, W.shape[0])
    ncols = W.shape[0] if ncols is None else min(check_positive_int(ncols, "ncols"), W.shape[0])
    nrows = -(-W.shape[0] // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows), squeeze=False)
    for ax in axes.flat[W.shape[0]:]:
        ax.axis("off")
    for k, ax in zip(range(W.shape[0]), axes.flat):
        Wk = W[k]
        overlap = (Wk.T @ Wk).abs().numpy()
        learned = [i for i, name in enumerate(names[k]) if name != "not learned"]
        groups = sorted(metrics.overlap_groups(Wk, min_norm, threshold), key=len, reverse=True)
        columns = max(1, int(np.ceil(np.sqrt(len(groups)))))
        position = {}
        for g, group in enumerate(groups):
            cx, cy = g % columns, -(g // columns)
            radius = 0.0 if len(group) == 1 else 0.35
            for t, i in enumerate(group):
                angle = 2 * np.pi * t / len(group) + np.pi / 2
                position[i] = (cx + radius * np.cos(angle), cy + radius * np.sin(angle))
        edges = [(a, b) for ai, a in enumerate(learned) for b in learned[ai + 1:] if overlap[a, b] > threshold]
        if edges:  # one collection for all edges: thousands of them at high sparsity
            ax.add_collection(LineCollection([[position[a], position[b]] for a, b in edges], colors="0.4", zorder=1,
                                             linewidths=[0.5 + 2.5 * min(1.0, overlap[a, b]) for a, b in edges]))
        for i in learned:
            colour = GEOMETRY_COLORS.get(names[k][i], OTHER_COLOR)
            ax.scatter(*position[i], s=30, color=colour, zorder=2, edgecolors="black", linewidths=0.3)
        ax.set_aspect("equal")
        ax.margins(0.15)
        ax.axis("off")
        dropped = W.shape[2] - len(learned)
        ax.set_title(f"{titles[k]}\n{len(learned)} learned, {dropped} not", fontsize=9)
    other = "other (no uniform polytope)"  # every "other (k in d)" shares one grey entry
    present = sorted({name if name in GEOMETRY_COLORS else other for instance in names for name in instance
                      if name != "not learned"},
                     key=lambda name: list(GEOMETRY_COLORS).index(name) if name in GEOMETRY_COLORS else 99)
    handles = [plt.Line2D([], [], marker="o", ls="", color=GEOMETRY_COLORS.get(name, OTHER_COLOR),
                          markeredgecolor="black", markeredgewidth=0.3) for name in present]
    fig.legend(handles, present, loc="lower center", ncol=min(4, max(1, len(present))), frameon=False, fontsize=8,
               bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout()
    return fig


def plot_dimensionality(inverse_density, W, panel_size: float = 4.2) -> Figure:
    """The paper's uniform-superposition figures: D* and every feature's D_i against 1/(1-S).

    inverse_density: (n_instances,) the values 1/(1-S) of the sweep; W: (n_instances, m, n).
    Left: dimensions per feature D* = m / ‖W‖_F^2, with the sticky values 1 and 1/2
    marked. Right: each feature's dimensionality D_i (one dot per feature and
    instance), with lines at the values of the uniform polytopes (metrics.
    POLYTOPE_DIMENSIONALITY): 1, 3/4 tetrahedron, 2/3 triangle, 1/2 digon,
    2/5 pentagon, 3/8 square antiprism, 0 not learned.
    """
    W = check_weights(W)
    x = np.asarray(torch.as_tensor(inverse_density), dtype=float)
    if x.shape != (W.shape[0],):
        raise ValueError(f"inverse_density must have one value per instance ({W.shape[0]}); got shape {x.shape}")
    d_star = metrics.dimensions_per_feature(W).numpy()
    dims = metrics.feature_dimensionality(W).numpy()
    fig, (left, right) = plt.subplots(1, 2, figsize=(2 * panel_size + 1.5, panel_size))
    for level, label in ((1.0, "sticky at 1"), (0.5, "sticky at 1/2")):
        left.axhline(level, color="0.75", lw=0.8, ls="--")
        left.text(x.max(), level + 0.02, label, ha="right", va="bottom", fontsize=8, color="0.4")
    left.plot(x, d_star, "o-", color="black", ms=3)
    left.set_xscale("log")
    left.set_xlabel("1 / (1 - S)")
    left.set_ylabel("dimensions per feature  D* = m / ‖W‖²_F")
    left.set_ylim(0, 1.1)
    _dimensionality_scatter(right, x, dims)
    fig.tight_layout()
    return fig


def _dimensionality_scatter(ax, x: np.ndarray, dims: np.ndarray, size: float = 2, alpha: float = 0.25) -> None:
    """Every feature's D_i against 1/(1-S), with a line at each uniform polytope's value."""
    for name, value in metrics.POLYTOPE_DIMENSIONALITY.items():
        ax.axhline(value, color="0.8", lw=0.8, zorder=0)
        ax.text(1.02, value, name, fontsize=7, va="center", transform=ax.get_yaxis_transform())  # right of the axes
    jitter = np.exp(np.random.default_rng(0).uniform(-0.04, 0.04, dims.shape))  # keep the dots apart along x
    ax.scatter((x[:, None] * jitter).ravel(), dims.ravel(), s=size, alpha=alpha, color="#4c72b0", lw=0)
    ax.set_xscale("log")
    ax.set_xlim(x.min() / 1.2, x.max() * 1.1)
    ax.set_ylim(-0.05, 1.1)
    ax.set_xlabel("1 / (1 - S)")
    ax.set_ylabel("feature dimensionality  D_i")


def plot_feature_dimensionalities(inverse_density, dims: Sequence, titles: Sequence[str],
                                  panel_size: float = 3.6, ncols: int = 2) -> Figure:
    """Panels (ncols to a row) of every feature's D_i against 1/(1-S), one per run, from stored dimensionalities.

    inverse_density: (points,) the values 1/(1-S); dims: one array per panel of shape
    (points, n_features), e.g. read from tms_tutorial.stored; lines mark the uniform
    polytopes' values as in plot_dimensionality.
    """
    x = np.asarray(torch.as_tensor(inverse_density), dtype=float).reshape(-1)
    arrays = [np.asarray(d, dtype=float) for d in dims]
    for d in arrays:
        if d.ndim != 2 or d.shape[0] != len(x):
            raise ValueError(f"each of dims must have shape (len(inverse_density), n_features) = ({len(x)}, n); "
                             f"got {d.shape}")
    titles = _titles(titles, len(arrays))
    ncols = min(check_positive_int(ncols, "ncols"), len(arrays))
    nrows = -(-len(arrays) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols + 0.8, panel_size * nrows), squeeze=False)
    for ax in axes.flat[len(arrays):]:
        ax.axis("off")
    for ax, d, title in zip(axes.flat, arrays, titles):
        _dimensionality_scatter(ax, x, d, size=4, alpha=0.35)
        ax.set_xscale("linear")  # a short range: even spacing reads better than a log axis
        ax.set_xlim(x.min() - 0.1 * np.ptp(x) - 0.05, x.max() + 0.1 * np.ptp(x) + 0.05)
        ax.set_xticks(x, [f"{v:g}" for v in x], fontsize=8)
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_n2_point(w, b, learned: str, candidate_losses, tuned_pair_loss: float, learned_loss: float,
                  predicted: str, title: str = "") -> Figure:
    """One point of the n = 2, m = 1 phase diagram: the learned solution beside the candidates' losses.

    Left: the two learned weights W_1, W_2 on the model's single axis, with the
    biases and the solution's name (learned). Right: the closed-form losses of
    theory.N2_CANDIDATES (candidate_losses, 3 values), the tuned pair's loss
    (hatched) and the learned model's loss (dashed line); predicted names the
    theory's winner.
    """
    w = np.asarray(torch.as_tensor(w, dtype=torch.float32)).reshape(-1)
    b = np.asarray(torch.as_tensor(b, dtype=torch.float32)).reshape(-1)
    losses = np.asarray(torch.as_tensor(candidate_losses, dtype=torch.float64)).reshape(-1)
    if w.shape != (2,) or b.shape != (2,) or losses.shape != (3,):
        raise ValueError(f"w and b must hold 2 values and candidate_losses 3; got {w.shape}, {b.shape}, {losses.shape}")
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.2, 2.7), gridspec_kw={"width_ratios": [1.2, 1]})
    left.axhline(0, color="0.8", lw=1)
    for f, (value, colour) in enumerate(zip(w, PHASE_COLORS[:2])):
        level = 0.12 * (1 - 2 * f)
        left.annotate("", xy=(value, level), xytext=(0, level), arrowprops=dict(arrowstyle="->", color=colour, lw=2))
        left.text(value / 2, 0.24 * (1 - 2 * f) - 0.03, f"$W_{f + 1}$ = {value:.2f}", color=colour, ha="center",
                  fontsize=10)
    left.set_xlim(-1.4, 1.4)
    left.set_ylim(-0.4, 0.4)
    left.set_yticks([])
    left.tick_params(labelsize=9)
    biases = ", ".join(f"{value:.2f}" for value in b.tolist()).replace("-0.00", "0.00")
    left.set_title(f"learned: {learned}\nb = [{biases}]", fontsize=10)
    right.bar([0, 1, 2], losses, color=PHASE_COLORS[:3])
    right.bar([2.3], [tuned_pair_loss], width=0.25, color="white", edgecolor=PHASE_COLORS[2], hatch="//")
    right.axhline(learned_loss, color="black", lw=1, ls="--")
    right.set_xticks([0, 1, 2], ["feat. 1\nonly", "feat. 2\nonly", "pair"], fontsize=9)
    right.set_title(f"theory: {predicted}\ndashed: learned loss", fontsize=10)
    right.tick_params(labelsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_phase_cut(densities, curves: dict, learned_loss, learned_weights, crossings=(), title: str = "") -> Figure:
    """A cut through a phase diagram at one relative importance, density falling to the right.

    Top (log scale): expected loss against density for each of ``curves``
    ({label: (values, colour, line style)}) and the learned models' losses (dots).
    Bottom: the learned |W_1| and |W_2|. crossings: densities marked on both
    panels, as (density, line style) pairs.
    """
    densities = np.asarray(torch.as_tensor(densities), dtype=float)
    weights = np.abs(np.asarray(torch.as_tensor(learned_weights), dtype=float))
    if weights.shape != (len(densities), 2):
        raise ValueError(f"learned_weights must have shape (len(densities), 2); got {weights.shape}")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.5, 6), sharex=True)
    for label, (values, colour, style) in curves.items():
        top.plot(densities, np.asarray(torch.as_tensor(values), dtype=float), style, label=label, color=colour)
    top.plot(densities, np.asarray(torch.as_tensor(learned_loss), dtype=float), "k.", label="learned (best of fits)")
    top.set_ylabel("expected loss")
    top.set_yscale("log")
    top.legend(fontsize=8)
    for f in range(2):
        bottom.plot(densities, weights[:, f], "o-", ms=3, label=f"|W_{f + 1}| (feature {f + 1})", color=PHASE_COLORS[f])
    bottom.set_ylabel("learned weight")
    bottom.set_xlabel("feature density 1 - S")
    bottom.legend(fontsize=8)
    for ax in (top, bottom):
        for density, style in crossings:
            ax.axvline(density, color="0.5", lw=0.8, ls=style)
        ax.set_xscale("log")
    bottom.set_xlim(densities.max() * 1.05, densities.min() * 0.95)  # sparser to the right, as in the diagrams
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_branch_losses(x, branches: dict, xlabel: str, ylabel: str = "loss", title: str = "") -> Figure:
    """Losses of competing solutions along a sweep, each drawn only where it exists.

    branches: {label: (losses, mask, colour)}, losses and mask of len(x); a branch
    is drawn at the points where mask is True (e.g. where it kept its shape).
    """
    x = np.asarray(torch.as_tensor(x), dtype=float)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, (losses, mask, colour) in branches.items():
        losses, mask = np.asarray(torch.as_tensor(losses), dtype=float), np.asarray(mask, dtype=bool)
        if losses.shape != x.shape or mask.shape != x.shape:
            raise ValueError(f"branch {label!r}: losses and mask must have shape {x.shape}")
        ax.plot(x[mask], losses[mask], "o-", color=colour, ms=4, label=label)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_gram(W, title: str = "", groups: Optional[Sequence[Tuple[str, int, int]]] = None,
              size: float = 3.6) -> Figure:
    """W^T W of one model as a heat map (red positive, blue negative), W: (m, n) or (1, m, n).

    groups: optional (label, first, last) feature ranges named on the axes, e.g. sets of features.
    """
    W = check_weights(W if torch.as_tensor(W).dim() == 3 else torch.as_tensor(W)[None])[0]
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow((W.T @ W).numpy(), cmap=WTW_CMAP, vmin=-1, vmax=1)
    ax.set_title(title, fontsize=10)
    if groups:
        centres = [(first + last) / 2 for _, first, last in groups]
        ax.set_xticks(centres, [label for label, _, _ in groups])
        ax.set_yticks(centres, [label for label, _, _ in groups], rotation=90, va="center")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def plot_pair_collapse(densities, cosines, collapsed, reference=(), colors: Optional[Sequence] = None) -> Figure:
    """Correlated pairs collapsing onto their principal component as density grows.

    Left: the cosine within each pair against density (cosines: (len(densities), pairs)).
    Right: how many pairs have collapsed (collapsed: (len(densities),)), beside
    reference ranges (low, high, count) drawn as grey bands (e.g. the paper's).
    """
    densities = np.asarray(torch.as_tensor(densities), dtype=float)
    cosines = np.asarray(torch.as_tensor(cosines), dtype=float)
    collapsed = np.asarray(torch.as_tensor(collapsed))
    if cosines.ndim != 2 or cosines.shape[0] != len(densities) or collapsed.shape != densities.shape:
        raise ValueError("cosines must be (len(densities), pairs) and collapsed (len(densities),)")
    colors = list(colors) if colors is not None else [PHASE_COLORS[s % len(PHASE_COLORS)] for s in range(cosines.shape[1])]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1.2, 1]})
    for s in range(cosines.shape[1]):
        left.plot(densities, cosines[:, s], "o-", ms=3, color=colors[s], label=f"pair {s}")
    left.set_xscale("log")
    left.set_xlabel("density 1 - S")
    left.set_ylabel("cosine within the pair")
    left.legend(frameon=False, fontsize=8)
    for low, high, count in reference:
        right.fill_between([low, high], count - 0.25, count + 0.25, color="0.85", lw=0)
    right.step(densities, collapsed, where="mid", color="black")
    right.plot(densities, collapsed, "o", color="black", ms=3)
    right.set_xscale("log")
    right.set_yticks(range(cosines.shape[1] + 1))
    right.set_xlabel("density 1 - S")
    right.set_ylabel("pairs collapsed")
    right.set_title("black: ours; grey: the paper's ranges" if reference else "", fontsize=9)
    fig.tight_layout()
    return fig


def plot_training_dynamics(snapshot_steps, D, loss_steps, loss, jumps: Sequence[dict] = (), title: str = "",
                           width: float = 8.0, loss_label: str = "loss") -> Figure:
    """The paper's learning-dynamics figure: the loss over training above every feature's D_i over training.

    snapshot_steps: (k,) steps of the weight snapshots; D: (k, n) each feature's dimensionality
    at each snapshot (one instance); loss_steps, loss: the loss records (History.steps and one
    instance's column of History.loss, or a smoother loss evaluated at the snapshots, named
    by loss_label). jumps: metrics.dimensionality_jumps's list; each is
    shaded from its step_before to its step_after in both panels, and its feature's curve is
    drawn in colour. Steps are on a log axis (step 0 is drawn at step 1), as the early moves
    are fast.
    """
    steps = np.maximum(np.asarray(snapshot_steps, dtype=float), 1.0)
    dims = np.asarray(torch.as_tensor(D), dtype=float)
    if dims.ndim != 2 or dims.shape[0] != len(steps):
        raise ValueError(f"D must have shape (len(snapshot_steps), n_features) = ({len(steps)}, n); "
                         f"got {dims.shape}")
    record_steps = np.maximum(np.asarray(loss_steps, dtype=float), 1.0)
    losses = np.asarray(loss, dtype=float)
    if losses.shape != record_steps.shape:
        raise ValueError(f"loss must have one value per loss step ({len(record_steps)}); got shape {losses.shape}")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(width, 0.7 * width), sharex=True,
                                      gridspec_kw={"height_ratios": [1, 2]})
    top.plot(record_steps, losses, color="black", lw=0.8)
    top.set_yscale("log")
    top.set_ylabel(loss_label)
    jumping = sorted({jump["feature"] for jump in jumps})
    palette = plt.get_cmap("tab10")
    for name, value in metrics.POLYTOPE_DIMENSIONALITY.items():
        bottom.axhline(value, color="0.85", lw=0.8, zorder=0)
        bottom.text(1.01, value, name, fontsize=7, va="center", transform=bottom.get_yaxis_transform())
    for i in range(dims.shape[1]):
        if i not in jumping:
            bottom.plot(steps, dims[:, i], color="0.65", lw=0.7)
    for k, i in enumerate(jumping):
        bottom.plot(steps, dims[:, i], color=palette(k % 10), lw=1.3, label=f"feature {i}")
    for jump in jumps:
        for ax in (top, bottom):
            ax.axvspan(max(jump["step_before"], 1), max(jump["step_after"], 1), color="#f0c05a", alpha=0.15, lw=0)
    bottom.set_xscale("log")
    bottom.set_xlabel("training step")
    bottom.set_ylabel("feature dimensionality  D_i")
    bottom.set_ylim(-0.05, 1.1)
    if jumping and len(jumping) <= 10:
        bottom.legend(fontsize=7, loc="upper left", ncol=2)
    if title:
        top.set_title(title)
    fig.tight_layout()
    return fig


def plot_geometry_3d(W, titles: Optional[Sequence[str]] = None, colors: Optional[Sequence] = None,
                     labels: Optional[Sequence[str]] = None, panel_size: float = 2.6,
                     elevation: float = 20, azimuth: float = 35) -> Figure:
    """Models with 3 hidden dimensions, one column each: arrows W_i in 3D above the cosines between them.

    W: (panels, 3, n), e.g. snapshots of one model through training. Top row: each feature's
    W_i as an arrow from the origin (same axes, -1.2 to 1.2, in every panel). Bottom row: the
    cosine of the angle between every two features (red +1, blue -1), which a projection
    cannot hide: an antipodal pair is a -1 off the diagonal. colors: one per feature
    (default: one colour each); labels: a legend entry per feature.
    """
    W = check_weights(W)
    if W.shape[1] != 3:
        raise ValueError(f"W must have n_hidden = 3; got {W.shape[1]}")
    panels, _, n = W.shape
    titles = _titles(titles, panels)
    colors = list(colors) if colors is not None else [plt.get_cmap("tab10")(i % 10) for i in range(n)]
    if len(colors) != n or (labels is not None and len(labels) != n):
        raise ValueError(f"colors and labels must have one entry per feature ({n})")
    fig = plt.figure(figsize=(panels * panel_size, 2 * panel_size + (0.4 if labels else 0)))
    unit = W / W.norm(dim=1, keepdim=True).clamp_min(1e-9)
    for k in range(panels):
        ax = fig.add_subplot(2, panels, k + 1, projection="3d")
        for i in range(n):
            x, y, z = W[k, :, i].tolist()
            ax.plot([0, x], [0, y], [0, z], color=colors[i], lw=2, label=labels[i] if labels and k == 0 else None)
            ax.scatter([x], [y], [z], color=colors[i], s=10)
        for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
            setter(-1.2, 1.2)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_zticks([])
        ax.view_init(elev=elevation, azim=azimuth)
        ax.set_title(titles[k], fontsize=9)
        cos_ax = fig.add_subplot(2, panels, panels + k + 1)
        cos_ax.imshow((unit[k].T @ unit[k]).numpy(), cmap=WTW_CMAP, vmin=-1, vmax=1)
        cos_ax.set_xticks(range(n), [str(i) for i in range(n)], fontsize=7)
        cos_ax.set_yticks(range(n), [str(i) for i in range(n)], fontsize=7)
        for tick, colour in zip(cos_ax.get_xticklabels() + cos_ax.get_yticklabels(), colors + colors):
            tick.set_color(colour)
        if k == 0:
            cos_ax.set_ylabel("cosine of W_i, W_j", fontsize=8)
    if labels:
        fig.legend(loc="lower center", ncol=min(n, 6), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05 if labels else 0, 1, 1))
    return fig


def plot_vulnerability(inverse_dstar, vulnerabilities: dict, xlabel: str = "features per dimension  1/D*",
                       ylabel: str = "vulnerability (loss increase / clean loss)", reference: Optional[float] = None
                       ) -> Figure:
    """Vulnerability against superposition: one series of dots per attack, joined in the order given.

    inverse_dstar: (k,) 1/D* of each model; vulnerabilities: label -> (k,) values. reference:
    a value to mark with a dashed line (e.g. the vulnerability of the dense models).
    """
    x = np.asarray(torch.as_tensor(inverse_dstar), dtype=float)
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    for k, (label, values) in enumerate(vulnerabilities.items()):
        y = np.asarray(torch.as_tensor(values), dtype=float)
        if y.shape != x.shape:
            raise ValueError(f"vulnerabilities[{label!r}] needs one value per model ({x.shape[0]}); got shape {y.shape}")
        order = np.argsort(x)
        ax.plot(x[order], y[order], "o-", ms=4, lw=0.8, color=PHASE_COLORS[k % len(PHASE_COLORS)], label=label)
    if reference is not None:
        ax.axhline(reference, color="0.6", ls="--", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_adversarial_training(sizes, runs: dict, panel_size: float = 3.3) -> Figure:
    """What adversarial training does, against the attack's size: three panels, one line per run.

    sizes: (k,) attack sizes (relative to the mean input norm); runs: label -> dict with
    "features per dimension" (1/D*), "effective features" and "vulnerability", each (k,).
    """
    x = np.asarray(torch.as_tensor(sizes), dtype=float)
    keys = ("features per dimension", "effective features", "vulnerability")
    fig, axes = plt.subplots(1, 3, figsize=(3 * panel_size + 0.6, panel_size))
    for k, (label, run) in enumerate(runs.items()):
        for ax, key in zip(axes, keys):
            y = np.asarray(torch.as_tensor(run[key]), dtype=float)
            if y.shape != x.shape:
                raise ValueError(f"{label}, {key}: one value per attack size ({x.shape[0]}) needed; got {y.shape}")
            ax.plot(x, y, "o-", ms=4, lw=1, color=PHASE_COLORS[k % len(PHASE_COLORS)], label=label)
    titles = ("features per dimension 1/D*", "effective features exp(H)", "vulnerability at the paper's attack")
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("attack size in training")
    axes[0].axhline(1.0, color="0.6", ls="--", lw=0.8)
    axes[2].set_ylim(bottom=0)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _stacked_neuron_bars(ax, weights: np.ndarray, colors: np.ndarray, min_height: float = 0.0) -> None:
    """Per neuron (a row of weights (m, n)) a bar stacked from its features' weights: positive up, negative down."""
    m, n = weights.shape
    xs, heights, bottoms, segment_colors = [], [], [], []
    for j in range(m):
        up = down = 0.0
        for i in np.argsort(-np.abs(weights[j]), kind="stable"):  # largest segment nearest the axis
            w = weights[j, i]
            if abs(w) <= min_height:
                continue
            xs.append(j)
            heights.append(w)
            bottoms.append(up if w > 0 else down)
            segment_colors.append(colors[i])
            if w > 0:
                up += w
            else:
                down += w
    if xs:  # one call for every segment: fast enough for 40 neurons x 100 features
        ax.bar(xs, heights, bottom=bottoms, color=segment_colors, width=0.8, edgecolor="white", linewidth=0.3)
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_xlim(-0.6, m - 0.4)


def _feature_colors(n: int) -> np.ndarray:
    """One colour per feature: tab10's ten for at most ten features, else viridis, feature 0
    (the most important) darkest."""
    if n <= 10:
        return plt.get_cmap("tab10")(np.arange(n))
    return plt.get_cmap(NEURON_CMAP)(np.linspace(0.0, 0.9, n))


NEURON_CMAP = "viridis"  # many features: feature 0 (most important) dark purple, the least important yellow


def plot_neuron_weights(W, titles: Optional[Sequence[str]] = None, labels: Optional[Sequence[str]] = None,
                        vmax: float = 1.25, panel_size: float = 2.3, columns: Optional[int] = None) -> Figure:
    """Privileged-basis models, one column each: the raw W above a stacked bar per neuron.

    W: (panels, m, n), neurons x features (a NeuronModel's W). Top: W itself (red
    positive, blue negative, full colour at |w| >= vmax in every panel). Bottom: for each
    neuron, its input weights stacked into one bar, a segment per feature in the
    feature's colour (the colour of its index under the matrix; tab10 for ten features);
    positive weights above the axis, negative below. labels: a line of text under
    each column (e.g. the regime found). columns: models per row (default: all in one row).
    """
    W = check_weights(W)
    panels, m, n = W.shape
    titles = _titles(titles, panels)
    if labels is not None and len(labels) != panels:
        raise ValueError(f"labels must have one entry per panel ({panels}); got {len(labels)}")
    check_number(vmax, "vmax", positive=True)
    columns = panels if columns is None else check_positive_int(columns, "columns")
    rows = -(-panels // columns)
    colors = _feature_colors(n)
    extra = 0.5 if labels else 0.2
    fig = plt.figure(figsize=(min(columns, panels) * panel_size, rows * (2 * panel_size + extra)))
    grid = fig.add_gridspec(2 * rows, min(columns, panels), height_ratios=[m / n * 1.6, 2] * rows)
    low = min(0.0, float(np.minimum(W.numpy(), 0).sum(axis=2).min()))
    high = float(np.maximum(W.numpy(), 0).sum(axis=2).max())
    for k in range(panels):
        row, column = divmod(k, columns)
        top, bottom = fig.add_subplot(grid[2 * row, column]), fig.add_subplot(grid[2 * row + 1, column])
        top.imshow(W[k].numpy(), cmap=WTW_CMAP, vmin=-vmax, vmax=vmax, aspect="auto")
        top.set_title(titles[k], fontsize=9)
        top.set_xticks(range(n), [str(i) for i in range(n)], fontsize=6)
        top.set_yticks(range(m), [str(j) for j in range(m)], fontsize=6)
        for tick, colour in zip(top.get_xticklabels(), colors):
            tick.set_color(colour)
        _stacked_neuron_bars(bottom, W[k].numpy(), colors, min_height=0.02)
        bottom.set_ylim(low * 1.05 - 0.05, high * 1.05 + 0.05)
        bottom.set_xticks(range(m), [str(j) for j in range(m)], fontsize=7)
        bottom.tick_params(axis="y", labelsize=7)
        if labels is not None:
            bottom.set_xlabel(labels[k], fontsize=7.5)
        if column == 0:
            top.set_ylabel("neuron", fontsize=8)
            bottom.set_ylabel("weights per neuron", fontsize=8)
    fig.tight_layout()
    return fig


def plot_neuron_bars(W, titles: Optional[Sequence[str]] = None, marked: Optional[Sequence[Sequence[int]]] = None,
                     min_height: float = 0.05, panel_height: float = 1.35, width: float = 9.0) -> Figure:
    """Neuron bars of absolute-value models, one row each, as the paper draws them.

    W: (panels, m, n), each neuron's input weights (a ComputationModel's W1). Each
    neuron is rescaled so that its largest |weight| is 1, and neurons are sorted by
    the index (the importance rank) of their largest feature. A bar stacks the
    neuron's weights, positive above the axis and negative below, coloured by
    feature (tab10 for at most ten features, else turbo from blue, feature 0, the
    most important, to red, spread by the square root of the index); segments below
    ``min_height`` after rescaling are left out. Each row has its own vertical scale. marked: per panel, neuron indices (of W,
    before sorting) to flag with a triangle above the bar (e.g. the asymmetric motif).
    """
    W = check_weights(W)
    panels, m, n = W.shape
    titles = _titles(titles, panels)
    if marked is not None and len(marked) != panels:
        raise ValueError(f"marked must have one list of neurons per panel ({panels}); got {len(marked)}")
    # turbo on the square root of the index: the important features, the ones neurons mostly carry, get most hues
    colors = _feature_colors(n) if n <= 10 else plt.get_cmap("turbo")(0.05 + 0.9 * np.sqrt(np.linspace(0, 1, n)))
    scaled = W / W.abs().max(dim=2, keepdim=True).values.clamp_min(1e-9)
    kept = torch.where(scaled.abs() > min_height, scaled, torch.zeros(()))
    highs = kept.clamp_min(0).sum(dim=2).max(dim=1).values.clamp_min(1.0).tolist()  # per panel
    lows = kept.clamp_max(0).sum(dim=2).min(dim=1).values.clamp_max(-1.0).tolist()
    fig, axes = plt.subplots(panels, 1, figsize=(width, panels * panel_height + 0.5), squeeze=False, sharex=True)
    for k in range(panels):
        ax = axes[k, 0]
        order = np.lexsort((np.arange(m), W[k].abs().argmax(dim=1).numpy()))
        _stacked_neuron_bars(ax, scaled[k][order].numpy(), colors, min_height=min_height)
        if marked is not None:
            position = {int(j): p for p, j in enumerate(order)}
            for j in marked[k]:
                ax.plot(position[int(j)], highs[k] * 1.12, "v", color="crimson", ms=4)
        ax.set_ylim(lows[k] * 1.05, highs[k] * 1.22)
        ax.tick_params(labelsize=7)
        ax.set_ylabel(titles[k], fontsize=8, rotation=0, ha="right", va="center")
    axes[-1, 0].set_xlabel("neurons, sorted by the importance of their largest feature", fontsize=8)
    mappable = plt.cm.ScalarMappable(cmap=ListedColormap(colors), norm=Normalize(0, n - 1))
    fig.colorbar(mappable, ax=axes[:, 0].tolist(), fraction=0.02, pad=0.01, label="feature index (0: most important)")
    return fig


def _lambda_axis(ax, lambdas: np.ndarray) -> np.ndarray:
    """A log axis for penalty coefficients that include 0: 0 is drawn a step left of the smallest and labelled 0."""
    positive = lambdas[lambdas > 0]
    if positive.size == 0:
        raise ValueError("lambdas must hold at least one positive value")
    zero_at = positive.min() / 3
    x = np.where(lambdas > 0, lambdas, zero_at)
    ax.set_xscale("log")
    ticks = [zero_at] + [t for t in 10.0 ** np.arange(np.floor(np.log10(positive.min())),
                                                       np.ceil(np.log10(positive.max())) + 1)
                         if positive.min() / 1.01 <= t <= positive.max() * 1.01]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0"] + [f"{t:g}" for t in ticks[1:]])
    ax.minorticks_off()
    ax.set_xlabel("L1 coefficient  λ")
    return x


def plot_penalty_sweep(lambdas, represented, superposed, inverse_d_star, reconstruction, total,
                       n_hidden: int, yardstick: Optional[float] = None, panel_size: float = 3.3) -> Figure:
    """What an L1 penalty λ‖h‖₁ on the hidden layer does, against λ: three panels.

    lambdas: (k,) coefficients (0 allowed); represented, superposed: (k,) feature counts;
    inverse_d_star: (k,) features per dimension 1/D*; reconstruction, total: (k,) the
    weighted error alone and with the penalty; n_hidden: m, drawn as the line that
    counts above which features must share dimensions; yardstick: the loss of the best
    model without superposition (the m most important features, each with a
    dimension), drawn dashed.
    """
    lambdas = np.asarray(lambdas, dtype=float)
    series = [np.asarray(v, dtype=float) for v in (represented, superposed, inverse_d_star, reconstruction, total)]
    if lambdas.ndim != 1 or any(s.shape != lambdas.shape for s in series):
        raise ValueError(f"every series must have the shape of lambdas {lambdas.shape}; "
                         f"got {[s.shape for s in series]}")
    represented, superposed, inverse_d_star, reconstruction, total = series
    fig, axes = plt.subplots(1, 3, figsize=(3 * panel_size, panel_size))
    x = _lambda_axis(axes[0], lambdas)
    axes[0].plot(x, represented, "o-", color="tab:blue", label="represented (‖W_i‖ > 0.5)")
    axes[0].plot(x, superposed, "s-", color="tab:red", label="superposed")
    axes[0].axhline(n_hidden, color="0.5", ls="--", lw=1, label=f"m = {n_hidden} dimensions")
    axes[0].set_ylabel("features")
    axes[0].set_ylim(bottom=0)
    axes[0].legend(fontsize=8, frameon=False)
    _lambda_axis(axes[1], lambdas)
    axes[1].plot(x, inverse_d_star, "o-", color="tab:purple")
    axes[1].axhline(1, color="0.5", ls="--", lw=1)
    axes[1].text(x.min(), 1.03, "one feature per dimension", fontsize=8, color="0.4", va="bottom")
    axes[1].set_ylabel("features per dimension  1/D*")
    axes[1].set_ylim(bottom=0)
    _lambda_axis(axes[2], lambdas)
    axes[2].plot(x, reconstruction, "o-", color="tab:green", label="weighted error")
    axes[2].plot(x, total, "^-", color="0.3", label="error + λ‖h‖₁")
    if yardstick is not None:
        axes[2].axhline(yardstick, color="tab:orange", ls="--", lw=1.2, label="best without superposition")
    axes[2].set_yscale("log")
    axes[2].set_ylabel("loss")
    axes[2].legend(fontsize=8, frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def plot_compressed_sensing(runs: dict, caps: Optional[dict] = None, constant: float = 1.0,
                            densities=None, panel_size: float = 4.6) -> Figure:
    """Features stored per dimension against sparsity, beside the compressed-sensing bound, log-log.

    runs: name -> (densities 1-S, features per dimension) of trained models.
    caps: name -> n/m, the most a run could store (every feature), drawn dotted.
    The bound: m >= C n (1-S) log(1/(1-S)) dimensions recover n features of density
    1-S, i.e. at most 1 / (C (1-S) log(1/(1-S))) features per dimension; drawn for
    C = ``constant`` (the theory fixes only its order) over ``densities`` (default:
    the runs' range).
    """
    from .theory import compressed_sensing_bound

    if not runs:
        raise ValueError("runs must name at least one run")
    fig, ax = plt.subplots(figsize=(panel_size * 1.3, panel_size))
    colours = plt.get_cmap("tab10")
    every = np.concatenate([np.asarray(p, dtype=float) for p, _ in runs.values()])
    if densities is None:
        densities = np.logspace(np.log10(every.min()), np.log10(min(every.max(), 0.6)), 200)
    densities = np.asarray(densities, dtype=float)
    bound = compressed_sensing_bound(torch.as_tensor(densities), constant).numpy()
    ax.plot(1 / densities, bound, color="k", lw=2,
            label=f"compressed sensing: 1 / ({constant:g}·(1-S)·ln(1/(1-S)))")
    for index, (name, (p, per_dimension)) in enumerate(runs.items()):
        p, per_dimension = np.asarray(p, dtype=float), np.asarray(per_dimension, dtype=float)
        if p.shape != per_dimension.shape:
            raise ValueError(f"run {name!r}: densities and features per dimension differ in shape")
        shown = per_dimension > 0
        ax.plot(1 / p[shown], per_dimension[shown], "o-", color=colours(index), ms=4, label=name)
        if caps and name in caps:
            ax.axhline(caps[name], color=colours(index), ls=":", lw=1.2)
    if caps:
        ax.plot([], [], color="0.4", ls=":", lw=1.2, label="dotted: n/m, every feature stored")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("1 / (1-S)   (sparser →)")
    ax.set_ylabel("features represented per dimension")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    fig.tight_layout()
    return fig


def plot_sae_directions(directions, W_dec, titles: Optional[Sequence[str]] = None, dead=None,
                        panel_size: float = 2.6) -> Figure:
    """An SAE's decoder rows over the true feature arrows, in a 2D hidden space: one panel per SAE.

    directions: (2, n_features), a toy model's W (columns drawn as thick grey arrows).
    W_dec: (n_instances, d_sae, 2), decoder rows (unit length, drawn coloured).
    dead: optional bool (n_instances, d_sae): latents that never fire, drawn dashed.
    """
    directions = check_weights(torch.as_tensor(directions)[None], "directions")[0].numpy()
    W_dec = check_weights(W_dec, "W_dec").numpy()
    if directions.shape[0] != 2 or W_dec.shape[2] != 2:
        raise ValueError(f"directions must be (2, n_features) and W_dec (n_instances, d_sae, 2); got "
                         f"{directions.shape} and {W_dec.shape}")
    n_instances, d_sae = W_dec.shape[:2]
    dead = np.zeros((n_instances, d_sae), dtype=bool) if dead is None else np.asarray(dead, dtype=bool)
    if dead.shape != (n_instances, d_sae):
        raise ValueError(f"dead must have shape {(n_instances, d_sae)}; got {dead.shape}")
    titles = _titles(titles, n_instances)
    fig, axes = plt.subplots(1, n_instances, figsize=(panel_size * n_instances, panel_size), squeeze=False)
    limit = max(1.2, 1.1 * float(np.abs(directions).max()))
    colours = plt.get_cmap("tab10")
    for k, ax in enumerate(axes[0]):
        for i in range(directions.shape[1]):
            ax.annotate("", xy=directions[:, i], xytext=(0, 0),
                        arrowprops=dict(arrowstyle="-|>", color="0.7", lw=5, shrinkA=0, shrinkB=0))
        for j in range(d_sae):
            ax.annotate("", xy=W_dec[k, j], xytext=(0, 0),
                        arrowprops=dict(arrowstyle="-|>", color=colours(j % 10), lw=1.6, shrinkA=0, shrinkB=0,
                                        ls="--" if dead[k, j] else "-"))
        _plane(ax, limit, titles[k], fontsize=9)
    fig.tight_layout()
    return fig


def plot_sae_readout(sizes, latents: dict, thresholds: Optional[dict] = None, points: int = 4000,
                     panel_size: float = 3.0) -> Figure:
    """What each SAE's latent reads for its feature: latent activation against the feature's true size.

    sizes: (samples, n_features), each feature's size in the hidden space, x_i ‖W_i‖
    (0 when the feature is off). latents: title -> (samples, n_features), the activation of
    the latent matched to each feature. thresholds: title -> a value drawn as a dotted
    vertical line (e.g. a JumpReLU SAE's median threshold). Points on the diagonal are read
    exactly; below it, shrunk; at size 0 and above the axis, interference read as the feature.
    At most ``points`` samples per panel are drawn.
    """
    sizes = np.asarray(sizes, dtype=float)
    if sizes.ndim != 2 or not latents:
        raise ValueError("sizes must be (samples, n_features) and latents must name at least one SAE")
    fig, axes = plt.subplots(1, len(latents), figsize=(panel_size * len(latents), panel_size), squeeze=False)
    top = float(sizes.max()) * 1.05
    for ax, (title, values) in zip(axes[0], latents.items()):
        values = np.asarray(values, dtype=float)
        if values.shape != sizes.shape:
            raise ValueError(f"latents[{title!r}] must have the shape of sizes {sizes.shape}; got {values.shape}")
        on = sizes.ravel() > 0
        a, f = sizes.ravel(), values.ravel()
        keep_on = np.flatnonzero(on)[:points]
        keep_off = np.flatnonzero(~on & (f > 0))[:points // 4]
        ax.plot([0, top], [0, top], color="0.6", lw=1, ls="--")
        ax.scatter(a[keep_on], f[keep_on], s=3, alpha=0.3, color="tab:blue", label="feature on", rasterized=True)
        ax.scatter(a[keep_off], f[keep_off], s=6, alpha=0.5, color="tab:red", label="feature off, latent fires",
                   rasterized=True)
        if thresholds and title in thresholds:
            ax.axvline(thresholds[title], color="k", ls=":", lw=1)
        ax.set_xlim(-0.03, top)
        ax.set_ylim(-0.03, top)
        ax.set_xlabel("true size  x_i ‖W_i‖")
        ax.set_title(title, fontsize=9)
    axes[0, 0].set_ylabel("matched latent's activation")
    axes[0, 0].legend(fontsize=7, frameon=False, loc="upper left", markerscale=3)
    fig.tight_layout()
    return fig


def plot_sparsity_fidelity(runs: dict, panel_size: float = 3.6) -> Figure:
    """Reconstruction against sparsity: each SAE's unexplained variance against its L0 (log x).

    runs: kind -> (l0, fvu), two arrays of shape (settings, fits): the mean number of
    active latents and the fraction of the activations' variance left unexplained,
    ||h - h_hat||^2 / Var(h), of every fit. Each fit is a point; a line joins each
    setting's mean. Lower and further left is better: fewer latents, less left unexplained.
    """
    if not runs:
        raise ValueError("runs must name at least one kind of SAE")
    fig, ax = plt.subplots(figsize=(panel_size * 1.4, panel_size))
    markers = iter("osd^v<>")
    for kind, (l0, fvu) in runs.items():
        l0, fvu = np.asarray(l0, dtype=float), np.asarray(fvu, dtype=float)
        if l0.ndim != 2 or l0.shape != fvu.shape or not (np.isfinite(l0).all() and np.isfinite(fvu).all()):
            raise ValueError(f"runs[{kind!r}] must be two finite arrays of one shape (settings, fits); "
                             f"got {l0.shape} and {fvu.shape}")
        if (l0 <= 0).any():
            raise ValueError(f"runs[{kind!r}]: L0 must be > 0 to be drawn on a log axis")
        marker = next(markers)
        line, = ax.plot(l0.mean(axis=1), fvu.mean(axis=1), marker=marker, lw=1.2, label=kind)
        ax.scatter(l0.ravel(), fvu.ravel(), s=12, marker=marker, color=line.get_color(), alpha=0.45)
    ax.set_xscale("log")
    everything = np.concatenate([np.asarray(l0, dtype=float).ravel() for l0, _ in runs.values()])
    ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10, 20, 50, 100)
             if everything.min() / 1.3 <= t <= everything.max() * 1.3]
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.set_xlabel("L0: latents active per sample")
    ax.set_ylabel("unexplained variance")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_heatmaps(matrices: Sequence, titles: Sequence[str], xlabel: str = "", ylabel: str = "",
                  xticklabels: Optional[Sequence[str]] = None, limit: Optional[float] = None,
                  panel_size: float = 2.8) -> Figure:
    """Matrices side by side as heat maps on one symmetric colour scale (blue negative, red positive).

    matrices: 2D arrays (rows drawn top to bottom); titles: one per matrix. limit: the
    colour scale's end (default: the largest |entry|). xticklabels: shared column labels.
    """
    arrays = [np.asarray(torch.as_tensor(m).detach().cpu(), dtype=float) for m in matrices]
    if not arrays or any(a.ndim != 2 for a in arrays):
        raise ValueError("matrices must be one or more 2D arrays")
    if len(titles) != len(arrays):
        raise ValueError(f"titles must have one entry per matrix ({len(arrays)}); got {len(titles)}")
    from matplotlib.ticker import MaxNLocator

    limit = float(limit if limit is not None else max(np.abs(a).max() for a in arrays)) or 1.0
    cell = panel_size / max(a.shape[0] for a in arrays)  # every panel draws its entries as squares of one size
    widths = [a.shape[1] for a in arrays]
    fig, axes = plt.subplots(1, len(arrays), figsize=(max(cell * sum(widths) + 0.6 * len(arrays) + 0.8, 3.0),
                                                      panel_size + 0.9),
                             gridspec_kw={"width_ratios": widths}, squeeze=False)
    for ax, array, title in zip(axes[0], arrays, titles):
        image = ax.imshow(array, cmap=WTW_CMAP, vmin=-limit, vmax=limit, aspect="equal", interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        if xticklabels is not None and len(xticklabels) == array.shape[1]:
            ax.set_xticks(range(array.shape[1]))
            ax.set_xticklabels(xticklabels, fontsize=7, rotation=90)
    axes[0, 0].set_ylabel(ylabel, fontsize=8)
    fig.colorbar(image, ax=list(axes[0]), fraction=0.03, pad=0.02)
    return fig


def plot_product_network(W1, b1, W2, b2, title: str = "", extent: float = 2.0, panel_size: float = 3.2) -> Figure:
    """A network y' = W2 ReLU(W1 (u, v) + b1) + b2 trained on u v: its neurons and its function.

    Left: each neuron's input weights as an arrow in the (u, v) plane, red where its output
    weight is positive, blue where negative (dashed: the diagonals u = ±v). Right: the
    learned function on [-extent, extent]^2, with the target u v as contours.
    W1: (m, 2), b1: (m,), W2: (1, m), b2: (1,).
    """
    W1, b1 = torch.as_tensor(W1).detach().float(), torch.as_tensor(b1).detach().float()
    W2, b2 = torch.as_tensor(W2).detach().float().reshape(1, -1), torch.as_tensor(b2).detach().float().reshape(1)
    if W1.dim() != 2 or W1.shape[1] != 2 or b1.shape != (W1.shape[0],) or W2.shape[1] != W1.shape[0]:
        raise ValueError(f"W1 must be (m, 2), b1 (m,) and W2 (1, m); got {tuple(W1.shape)}, {tuple(b1.shape)}, "
                         f"{tuple(W2.shape)}")
    fig, axes = plt.subplots(1, 2, figsize=(2 * panel_size + 0.6, panel_size))
    ax = axes[0]
    reach = 1.15 * float(W1.norm(dim=1).max()) or 1.0
    for sign in (1, -1):
        ax.plot([-reach, reach], [-sign * reach, sign * reach], color="0.85", ls="--", lw=0.8, zorder=0)
    for j in range(W1.shape[0]):
        colour = "tab:red" if W2[0, j] > 0 else "tab:blue"
        ax.annotate("", xy=(W1[j, 0].item(), W1[j, 1].item()), xytext=(0, 0),
                    arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.8, shrinkA=0, shrinkB=0))
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-reach, reach)
    ax.set_aspect("equal")
    ax.set_xlabel("weight on u")
    ax.set_ylabel("weight on v")
    ax.set_title("neurons' input weights\n(red: adds to the output, blue: subtracts)", fontsize=8)
    grid = torch.linspace(-extent, extent, 81)
    u, v = torch.meshgrid(grid, grid, indexing="xy")
    points = torch.stack([u.flatten(), v.flatten()], dim=1)
    y = (torch.relu(points @ W1.T + b1) @ W2.T + b2).reshape(u.shape)
    top = float(extent * extent)
    image = axes[1].imshow(y.numpy(), origin="lower", extent=(-extent, extent, -extent, extent), cmap=WTW_CMAP,
                           vmin=-top, vmax=top)
    axes[1].contour(u.numpy(), v.numpy(), (u * v).numpy(), levels=[-3, -2, -1, 0, 1, 2, 3], colors="k",
                    linewidths=0.6)
    axes[1].set_xlabel("u")
    axes[1].set_ylabel("v")
    axes[1].set_title("learned output (colour) and u·v (contours)", fontsize=8)
    fig.colorbar(image, ax=axes[1], fraction=0.046, pad=0.04)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_incidental(neurons, runs: dict, expected, panel_size: float = 3.6) -> Figure:
    """Polysemantic neurons against the number of neurons m: each run's mean over seeds (error bars:
    standard error) beside the count chance collisions at initialization predict.

    neurons: (k,) values of m; runs: name -> (means (k,), standard errors (k,)); expected: (k,).
    """
    neurons = np.asarray(neurons, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if neurons.ndim != 1 or expected.shape != neurons.shape or not runs:
        raise ValueError("neurons and expected must be (k,) arrays of one shape, and runs must name a run")
    fig, ax = plt.subplots(figsize=(panel_size * 1.4, panel_size))
    markers = iter("osd^v")
    for name, (mean, error) in runs.items():
        mean, error = np.asarray(mean, dtype=float), np.asarray(error, dtype=float)
        if mean.shape != neurons.shape or error.shape != neurons.shape:
            raise ValueError(f"run {name!r} must give a mean and an error per value of m")
        ax.errorbar(neurons, mean, yerr=error, marker=next(markers), capsize=3, label=name)
    ax.plot(neurons, expected, "k--", lw=1.2, label="chance: shared strongest neuron at initialization")
    ax.set_xscale("log", base=2)
    ax.set_xticks(neurons)
    ax.set_xticklabels([f"{int(v)}" for v in neurons])
    ax.set_yscale("symlog", linthresh=1, linscale=0.6)
    top = max([float(np.max(np.asarray(mean) + np.asarray(error))) for mean, error in runs.values()]
              + [float(expected.max())])
    ticks = [t for t in (0, 1, 2, 5, 10, 20, 50, 100, 200) if t <= top * 1.2]
    ax.set_yticks(ticks)
    ax.set_yticklabels([str(t) for t in ticks])
    ax.set_ylim(0, top * 1.3)
    ax.minorticks_off()
    ax.set_xlabel("neurons m")
    ax.set_ylabel("polysemantic neurons")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
