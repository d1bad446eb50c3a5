"""widgets: one explorer that is live in a kernel and static in the book."""

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from tms_tutorial.widgets import explorer, figure_to_png, grid_explorer


def line_figure(slope):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, slope])
    return fig


def test_static_html_embeds_every_frame_and_a_range_control():
    view = explorer(line_figure, [0.5, 1.0, 2.0], "slope", start=1)
    page = view.to_html()
    assert len(re.findall(r'<img class="tms-frame"[^>]*src="data:image/png;base64,', page)) == 3
    assert 'type="range" min="0" max="2"' in page and 'value="1"' in page
    assert page.count("display:block") == 1  # only the start frame is visible
    assert "<script" not in page and "http" not in page  # works offline, without a kernel
    assert len(set(view.frames)) == 3  # each value draws its own figure


def test_live_widget_switches_the_image():
    view = explorer(line_figure, [1, 2], "slope", labels=["one", "two"])
    box = view.widget()
    slider, image = box.children
    assert image.value == view.frames[0]
    slider.value = 1
    assert image.value == view.frames[1]


def test_mimebundle_offers_the_live_widget_and_html_for_the_static_book():
    view = explorer(line_figure, [1], "slope")
    bundle = view._repr_mimebundle_()
    assert bundle["text/html"].startswith('<div class="tms-explorer">')
    assert "text/plain" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == view.widget().model_id


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(values=[]), "values"),
        (dict(values=[1, 2], labels=["a"]), "labels"),
        (dict(values=[1, 2], start=2), "start"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        explorer(line_figure, description="slope", **kwargs)


def test_grid_explorer_indexes_frames_row_major_in_html_and_live():
    from tms_tutorial.widgets import grid_explorer

    view = grid_explorer(
        lambda a, b: line_figure(a * 10 + b), {"a": [1, 2], "b": [0, 1, 2]}, start={"a": 1, "b": 2}
    )
    assert len(view) == 6 and len(set(view.frames)) == 6
    page = view.to_html()
    assert page.count('class="tms-axis"') == 2
    assert 'data-labels="1|2"' in page and 'data-labels="0|1|2"' in page
    shown = re.findall(r'<img class="tms-frame" alt="([^"]*)" style="display:block', page)
    assert shown == ["a = 2, b = 2"]  # row-major: index 1 * 3 + 2 = 5 is the start frame
    assert view.frames[5] == view.frames[view._index([1, 2])]
    first, second, image = view.widget().children
    assert image.value == view.frames[5]
    first.value, second.value = 0, 1
    assert image.value == view.frames[1]


def test_grid_explorer_rejects_bad_axes():
    from tms_tutorial.widgets import grid_explorer

    with pytest.raises(ValueError, match="axes"):
        grid_explorer(line_figure, {})
    with pytest.raises(ValueError, match="start"):
        grid_explorer(line_figure, {"a": [1]}, start={"a": 3})
    with pytest.raises(ValueError, match="labels"):
        grid_explorer(line_figure, {"a": [1, 2]}, labels={"a": ["x"]})


def test_labels_with_the_static_forms_separator_are_refused():
    with pytest.raises(ValueError, match="labels"):
        explorer(lambda v: plt.figure(), [1, 2], "value", labels=["a|b", "c"])
    with pytest.raises(ValueError, match="labels"):
        grid_explorer(lambda a: plt.figure(), {"a": [1, 2]}, labels={"a": ["x", "y|z"]})


def test_importing_the_package_leaves_pyplot_unloaded():
    import subprocess
    import sys

    code = "import sys, tms_tutorial; print('matplotlib.pyplot' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_frames_are_stored_with_a_palette_that_keeps_the_colours():
    import io

    from PIL import Image

    def figure():
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.bar([0, 1], [1, 2], color=["#4c72b0", "#dd8452"])
        return fig

    small, full = figure_to_png(figure()), figure_to_png(figure(), colors=None)
    assert len(small) < len(full)
    with Image.open(io.BytesIO(small)) as a, Image.open(io.BytesIO(full)) as b:
        assert a.mode == "P" and a.size == b.size
        colours = {c for _, c in a.convert("RGB").getcolors(256)}
        assert {(0x4C, 0x72, 0xB0), (0xDD, 0x84, 0x52)} <= colours  # the bars' colours survive exactly
    with pytest.raises(ValueError, match="colors"):
        figure_to_png(figure(), colors=1)
