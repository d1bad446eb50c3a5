"""Explorers: a slider over precomputed values that switches a figure.

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
from typing import Callable, Dict, List, Optional, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

_SHOW_FRAME = (
    "var c=this.closest('.tms-explorer'),f=c.querySelectorAll('.tms-frame'),v=+this.value;"
    "f.forEach(function(e,i){e.style.display=i===v?'block':'none';});"
    "c.querySelector('.tms-value').textContent=f[v].getAttribute('data-label');"
)


def figure_to_png(fig: Figure, dpi: int = 80) -> bytes:
    """Render a figure to PNG bytes and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


class Explorer:
    """A slider over ``values``; each value shows the figure ``render(value)``.

    Build one with :func:`explorer`. Displaying it (as a cell's last value)
    gives the live widget where ipywidgets can run and the HTML version elsewhere.
    """

    def __init__(self, frames: List[bytes], labels: List[str], description: str, start: int) -> None:
        self.frames = frames
        self.labels = labels
        self.description = description
        self.start = start
        self._widget = None

    def __len__(self) -> int:
        return len(self.frames)

    def to_html(self) -> str:
        """The static form: a range input and every frame as an embedded PNG."""
        images = "".join(
            f'<img class="tms-frame" data-label="{html.escape(label)}" alt="{html.escape(self.description)} = '
            f'{html.escape(label)}" style="display:{"block" if i == self.start else "none"};max-width:100%" '
            f'src="data:image/png;base64,{base64.b64encode(frame).decode("ascii")}"/>'
            for i, (frame, label) in enumerate(zip(self.frames, self.labels))
        )
        return (
            '<div class="tms-explorer">'
            f'<label style="font-family:sans-serif">{html.escape(self.description)} '
            f'<input type="range" min="0" max="{len(self) - 1}" step="1" value="{self.start}" '
            f'oninput="{html.escape(_SHOW_FRAME)}" style="vertical-align:middle;width:260px"/> '
            f'<span class="tms-value">{html.escape(self.labels[self.start])}</span></label>'
            f"{images}</div>"
        )

    def widget(self):
        """The live form: an ipywidgets box with a selection slider and an image."""
        if self._widget is None:
            import ipywidgets

            slider = ipywidgets.SelectionSlider(
                options=list(zip(self.labels, range(len(self)))),
                value=self.start,
                description=self.description,
                continuous_update=True,
                style={"description_width": "initial"},
                layout=ipywidgets.Layout(width="420px"),
            )
            image = ipywidgets.Image(value=self.frames[self.start], format="png")

            def show(change) -> None:
                image.value = self.frames[change["new"]]

            slider.observe(show, names="value")
            self._widget = ipywidgets.VBox([slider, image])
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
    values = list(values)
    if not values:
        raise ValueError("values must contain at least one value")
    labels = [str(v) for v in values] if labels is None else [str(label) for label in labels]
    if len(labels) != len(values):
        raise ValueError(f"labels must have one entry per value ({len(values)}); got {len(labels)}")
    if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < len(values):
        raise ValueError(f"start must be an index in [0, {len(values) - 1}]; got {start!r}")
    frames = [figure_to_png(render(value), dpi=dpi) for value in values]
    return Explorer(frames, labels, description, start)
