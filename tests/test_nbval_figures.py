"""The figure check of the nbval run (tests/nbval_figures.py): what it lets pass and what it catches."""

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tests.nbval_figures import compare_cell, compare_pngs, pngs_in  # noqa: E402


def png(points, size=(4, 3), colour="C0"):
    fig, ax = plt.subplots(figsize=size, dpi=100)
    ax.scatter(points[:, 0], points[:, 1], s=30, color=colour)
    ax.set_xlim(-1.2, 1.2)
    ax.set_ylim(-1.2, 1.2)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


ANGLES = 2 * np.pi * np.arange(5) / 5
PENTAGON = np.stack([np.cos(ANGLES), np.sin(ANGLES)], axis=1)


def test_the_same_numbers_and_antialiasing_noise_pass():
    assert compare_pngs(png(PENTAGON), png(PENTAGON)) is None
    assert compare_pngs(png(PENTAGON), png(PENTAGON + 1e-5)) is None
    nudged = PENTAGON.copy()
    nudged[2] += [0.01, 0.0]  # about a pixel: matplotlib snaps markers to whole pixels, so noise can do this
    assert compare_pngs(png(PENTAGON), png(nudged)) is None


def test_a_moved_point_a_new_colour_and_a_new_size_fail():
    moved = PENTAGON.copy()
    moved[2] += [0.04, 0.0]  # about 5 pixels
    assert "blocks changed" in compare_pngs(png(PENTAGON), png(moved))
    assert "blocks changed" in compare_pngs(png(PENTAGON), png(PENTAGON, colour="C3"))
    assert "size changed" in compare_pngs(png(PENTAGON), png(PENTAGON, size=(5, 3)))


def output(kind, payload):
    return {"output_type": "display_data", "data": {kind: payload}, "metadata": {}}


def test_figures_are_found_in_images_and_in_explorer_html():
    one, two = png(PENTAGON), png(PENTAGON, colour="C1")
    html = f'<div><img src="data:image/png;base64,{base64.b64encode(one).decode()}">' \
           f'<img src="data:image/png;base64,{base64.b64encode(two).decode()}"></div>'
    outputs = [output("image/png", base64.b64encode(one).decode()), output("text/html", html),
               {"output_type": "stream", "name": "stdout", "text": "loss 0.1\n"}]
    assert pngs_in(outputs) == [one, one, two]
    assert list(compare_cell(outputs, outputs)) == []
    swapped = [outputs[0], output("text/html", html.replace(base64.b64encode(two).decode(),
                                                            base64.b64encode(png(PENTAGON, colour="C2")).decode()))]
    problems = list(compare_cell(outputs, swapped))
    assert len(problems) == 1 and problems[0].startswith("figure 3 of 3")
    assert list(compare_cell(outputs, outputs[:1])) == ["the cell stored 3 figures and drew 1"]


def test_nbval_with_the_plugin_fails_a_cell_whose_figure_changed(tmp_path):
    """End to end: a notebook stored with one figure, whose code now draws another, passes nbval alone
    (images are not compared) and fails with the plugin, naming the figure."""
    import subprocess
    import sys
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient

    draw = ("%matplotlib inline\nimport matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots(figsize=(3, 2), dpi=80)\nax.plot([0, 1], [0, {end}])\n"
            "ax.set_ylim(0, 1)\nplt.show()")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(draw.format(end=1))]
    NotebookClient(notebook, kernel_name="python3").execute()
    assert len(pngs_in(notebook.cells[0].outputs)) == 1
    notebook.cells[0].source = draw.format(end=0.5)  # the stored figure is now out of date
    path = tmp_path / "changed.ipynb"
    nbformat.write(notebook, path)
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider",
               "-q", str(path)]
    assert subprocess.run(command, cwd=root, capture_output=True, text=True).returncode == 0
    result = subprocess.run(command[:3] + ["-p", "tests.nbval_figures"] + command[3:], cwd=root,
                            capture_output=True, text=True)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "a figure differs from the one stored in the notebook" in result.stdout
    assert "figure 1 of 1" in result.stdout
