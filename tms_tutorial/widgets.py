"""Explorers: sliders over precomputed values that switch a figure.

One helper serves every chapter. Each frame is drawn once by a plotting
function and kept as a PNG. The explorer then shows itself two ways at once:

* in a live kernel (Jupyter, Colab, Binder) as ipywidgets: a slider and an image;
* in the static book (no kernel, no network) as plain HTML: a range input whose
  inline handler shows one of the embedded frames. No script file, no CDN.

A front end picks the richest form it can render; the book is configured to
render the HTML form.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from PIL import Image

from ._checks import check_index, check_positive_int

# One handler for every slider of an explorer: the frame index is the sliders'
# positions read as digits (row-major over the axes), and each slider's label
# shows its own value.
_SHOW_FRAME = (
    "var c=this.closest('.tms-explorer'),k=0;"
    "c.querySelectorAll('input.tms-axis').forEach(function(s){k=k*(+s.max+1)+(+s.value);"
    "s.nextElementSibling.textContent=s.getAttribute('data-labels').split('|')[+s.value];});"
    "c.querySelectorAll('.tms-frame').forEach(function(e,i){e.style.display=i===k?'block':'none';});"
)


def figure_to_png(fig: Figure, dpi: int = 80, colors: Optional[int] = 128) -> bytes:
    """Render a figure to PNG bytes and close it.

    colors: store the image with a palette of at most this many colours (None: full
    RGBA). Plots use few colours, so a palette keeps them sharp at about a third of the
    size (chapter 2's frames), which matters for explorers that hold a hundred frames on a page.
    """
    if not isinstance(fig, Figure):
        raise ValueError(f"fig must be a matplotlib Figure (what a plotting function returns); got {type(fig).__name__}")
    dpi = check_positive_int(dpi, "dpi")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    if colors is None:
        return buffer.getvalue()
    if isinstance(colors, bool) or not isinstance(colors, int) or not 2 <= colors <= 256:
        raise ValueError(f"colors must be a palette size from 2 to 256, or None; got {colors!r}")
    buffer.seek(0)
    with Image.open(buffer) as image:
        small = image.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="png", optimize=True)
    return out.getvalue()


class Explorer:
    """Sliders over one or more axes of values; each combination shows its precomputed figure.

    Build one with :func:`explorer` (one axis) or :func:`grid_explorer` (several).
    Displaying it (as a cell's last value) gives the live widget where
    ipywidgets can run and the HTML version elsewhere.

    frames: PNGs in row-major order over the axes; axes: (description, labels)
    per axis; start: the starting index on each axis.
    """

    def __init__(self, frames: List[bytes], axes: List[Tuple[str, List[str]]], start: List[int]) -> None:
        self.frames = frames
        self.axes = axes
        self.start = start
        self._widget = None

    @property
    def description(self) -> str:
        return " x ".join(description for description, _ in self.axes)

    def __len__(self) -> int:
        return len(self.frames)

    def _index(self, positions: Sequence[int]) -> int:
        index = 0
        for (_, labels), position in zip(self.axes, positions):
            index = index * len(labels) + position
        return index

    def _alt(self, positions: Sequence[int]) -> str:
        return ", ".join(f"{d} = {labels[i]}" for (d, labels), i in zip(self.axes, positions))

    def to_html(self) -> str:
        """The static form: a range input per axis and every frame as an embedded PNG."""
        shown = self._index(self.start)
        positions = list(itertools.product(*(range(len(labels)) for _, labels in self.axes)))
        images = "".join(
            f'<img class="tms-frame" alt="{html.escape(self._alt(where))}" '
            f'style="display:{"block" if i == shown else "none"};max-width:100%" '
            f'src="data:image/png;base64,{base64.b64encode(frame).decode("ascii")}"/>'
            for i, (frame, where) in enumerate(zip(self.frames, positions))
        )
        sliders = "".join(
            f'<div><label style="font-family:sans-serif">{html.escape(description)} '
            f'<input class="tms-axis" type="range" min="0" max="{len(labels) - 1}" step="1" '
            f'value="{position}" data-labels="{html.escape("|".join(labels))}" '
            f'oninput="{html.escape(_SHOW_FRAME)}" style="vertical-align:middle;width:260px"/> '
            f'<span class="tms-value">{html.escape(labels[position])}</span></label></div>'
            for (description, labels), position in zip(self.axes, self.start)
        )
        return f'<div class="tms-explorer">{sliders}{images}</div>'

    def widget(self):
        """The live form: an ipywidgets box with a selection slider per axis and an image."""
        if self._widget is None:
            import ipywidgets

            sliders = [
                ipywidgets.SelectionSlider(
                    options=list(zip(labels, range(len(labels)))),
                    value=position,
                    description=description,
                    continuous_update=True,
                    style={"description_width": "initial"},
                    layout=ipywidgets.Layout(width="420px"),
                )
                for (description, labels), position in zip(self.axes, self.start)
            ]
            image = ipywidgets.Image(value=self.frames[self._index(self.start)], format="png")

            def show(change) -> None:
                image.value = self.frames[self._index([slider.value for slider in sliders])]

            for slider in sliders:
                slider.observe(show, names="value")
            self._widget = ipywidgets.VBox([*sliders, image])
        return self._widget

    def _repr_mimebundle_(self, include=None, exclude=None) -> Dict[str, object]:
        bundle: Dict[str, object] = {
            "text/plain": f"Explorer({self.description}: {len(self)} frames)",
            "text/html": self.to_html(),
        }
        try:
            model_id = self.widget().model_id
        except Exception:  # no ipywidgets, or no kernel to talk to: the HTML form still works
            model_id = None
        if model_id:
            # The view reference that ipywidgets 7 and 8 both display; 7 has no _repr_mimebundle_.
            bundle["application/vnd.jupyter.widget-view+json"] = {
                "version_major": 2,
                "version_minor": 0,
                "model_id": model_id,
            }
        return bundle


def _check_labels(labels: Sequence[str], name: str) -> None:
    """The static form keeps an axis's labels in one attribute, separated by '|'."""
    bad = [label for label in labels if "|" in label]
    if bad:
        raise ValueError(f"{name} must not contain '|' (it separates the labels in the static page); got {bad[:3]}")


def explorer(
    render: Callable[[object], Figure],
    values: Sequence,
    description: str,
    labels: Optional[Sequence[str]] = None,
    start: int = 0,
    dpi: int = 80,
) -> Explorer:
    """Draw ``render(v)`` for every v in ``values`` and return an Explorer over them.

    render: a plotting function of one value returning a Figure (it is closed after use).
    labels: text shown for each value (default: str(v)).
    start: index of the frame shown first.
    """
    if not callable(render):
        raise ValueError(f"render must be a function of one value returning a Figure; got {type(render).__name__}")
    values = list(values)
    if not values:
        raise ValueError("values must contain at least one value")
    labels = [str(v) for v in values] if labels is None else [str(label) for label in labels]
    _check_labels(labels, "labels")
    if len(labels) != len(values):
        raise ValueError(f"labels must have one entry per value ({len(values)}); got {len(labels)}")
    start = check_index(start, "start", len(values))
    frames = [figure_to_png(render(value), dpi=dpi) for value in values]
    return Explorer(frames, [(description, labels)], [start])


def grid_explorer(
    render: Callable[..., Figure],
    axes: Dict[str, Sequence],
    labels: Optional[Dict[str, Sequence[str]]] = None,
    start: Optional[Dict[str, int]] = None,
    dpi: int = 80,
) -> Explorer:
    """One slider per axis; every combination of values shows ``render(*values)``.

    axes: {description: values}, in the order the sliders appear (and render's
    arguments). labels, start: optional, per description (default str(v), index 0).
    Draws one figure per combination, so keep the product of the axes' lengths modest.
    """
    if not callable(render):
        raise ValueError(f"render must be a function of one value per axis returning a Figure; got "
                         f"{type(render).__name__}")
    if not isinstance(axes, dict) or not axes:
        raise ValueError("axes must be a dict {description: values} naming at least one axis")
    labels, start = labels or {}, start or {}
    unknown = (set(labels) | set(start)) - set(axes)
    if unknown:
        raise ValueError(f"labels and start may only name axes {list(axes)}; got {sorted(unknown)}")
    axis_list, positions = [], []
    for description, values in axes.items():
        values = list(values)
        if not values:
            raise ValueError(f"axis {description!r} must have at least one value")
        names = [str(v) for v in labels.get(description, values)]
        _check_labels(names, f"labels[{description!r}]")
        if len(names) != len(values):
            raise ValueError(f"labels[{description!r}] must have one entry per value ({len(values)}); got {len(names)}")
        position = start.get(description, 0)
        position = check_index(position, f"start[{description!r}]", len(values))
        axis_list.append((description, names))
        positions.append(position)
    frames = [
        figure_to_png(render(*combination), dpi=dpi) for combination in itertools.product(*(list(v) for v in axes.values()))
    ]
    return Explorer(frames, axis_list, positions)
