"""The grader as a hostile student meets it: no submission can change its own score.

Each attack below once earned full marks from a grader that ran the notebook's own check
cells; here each must score 0 (or leave the score unchanged), and a correct submission
must still score full marks.
"""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from scripts import assignments
from tests.test_assignments import filled_in
from tms_tutorial import grading

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "01_demonstrating_superposition.ipynb"
NAMES = ["sample_features", "relu_model", "importance_loss", "feature_dimensionality"]
FULL = {name: (1, "passed") for name in NAMES}

WRONG_RELU = '''# EXERCISE: relu_model
import torch


def relu_model(W, b, x):
    return x @ W.T @ W + b  # no ReLU
'''


def good_submission() -> nbformat.NotebookNode:
    student = nbformat.read(ROOT / "assignments" / CHAPTER, as_version=4)
    return filled_in(student, nbformat.read(ROOT / "book" / CHAPTER, as_version=4))


def exercise_cell(notebook: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    return next(cell for cell in notebook.cells if assignments.exercise_name(cell.source) == name)


def write(notebook: nbformat.NotebookNode, path: Path) -> Path:
    nbformat.write(notebook, path)
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """The grader runs from a directory of its own with a home of its own, to see what a submission leaves."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return tmp_path


def test_a_correct_submission_scores_full_marks(isolated):
    assert assignments.grade(write(good_submission(), isolated / CHAPTER)) == FULL


def test_a_checker_redefined_or_the_checks_patched_or_wrapped_changes_nothing(isolated):
    notebook = good_submission()
    exercise_cell(notebook, "relu_model").source = WRONG_RELU + (
        "\nfrom tms_tutorial import exercises\n"
        "exercises.check_relu_model = lambda f: print('\u2713 relu_model: correct')\n"
        "import numpy, torch\n"
        "torch.allclose = lambda *a, **k: True\n"
        "numpy.allclose = lambda *a, **k: True\n"
        "torch.equal = lambda *a, **k: True\n")
    for cell in notebook.cells:  # every check wrapped so that it cannot fail
        if cell.cell_type == "code" and "exercises.check_" in cell.source and "# EXERCISE" not in cell.source:
            cell.source = "try:\n" + "".join(f"    {line}\n" for line in cell.source.splitlines()) + \
                          "except Exception:\n    pass"
    scores = assignments.grade(write(notebook, isolated / CHAPTER))
    assert scores["relu_model"] == (0, "AssertionError: relu_model: did you forget the ReLU? Outputs must not be "
                                       "negative")
    assert {name: scores[name] for name in NAMES if name != "relu_model"} == \
           {name: (1, "passed") for name in NAMES if name != "relu_model"}


def test_a_deleted_exercise_or_check_still_counts(isolated):
    notebook = good_submission()
    notebook.cells = [cell for cell in notebook.cells
                      if assignments.exercise_name(cell.source) != "importance_loss"  # the exercise deleted
                      and "exercises.check_" not in cell.source]  # and every check cell
    scores = assignments.grade(write(notebook, isolated / CHAPTER))
    assert list(scores) == NAMES
    assert scores["importance_loss"][0] == 0 and scores["importance_loss"][1].startswith("missing")
    assert sum(points for points, _ in scores.values()) == 3


def test_an_answer_that_calls_the_librarys_own_implementation_scores_zero(isolated):
    notebook = good_submission()
    exercise_cell(notebook, "feature_dimensionality").source = (
        "# EXERCISE: feature_dimensionality\n"
        "from tms_tutorial import metrics\n\n\n"
        "def feature_dimensionality(W):\n"
        "    return metrics.feature_dimensionality(W[None])[0]\n")
    exercise_cell(notebook, "relu_model").source = (
        "# EXERCISE: relu_model\nimport torch\nfrom tms_tutorial import ToyModel\n\n\n"
        "def relu_model(W, b, x):\n"
        "    model = ToyModel(W.shape[1], W.shape[0], 1)\n"
        "    with torch.no_grad():\n"
        "        model.W[0], model.b_final[0] = W, b\n"
        "    return model(x[:, None].float())[:, 0].double()\n")
    scores = assignments.grade(write(notebook, isolated / CHAPTER))
    assert scores["feature_dimensionality"] == (
        0, "calls the library's own tms_tutorial.metrics.feature_dimensionality: write the exercise yourself")
    assert scores["relu_model"][0] == 0 and "calls the library's own tms_tutorial." in scores["relu_model"][1]
    assert scores["sample_features"] == scores["importance_loss"] == (1, "passed")


def test_files_a_submission_writes_land_in_a_directory_that_is_then_removed(isolated):
    notebook = good_submission()
    exercise_cell(notebook, "importance_loss").source += (
        "\nimport os\n"
        "open(os.path.expanduser('~/planted.txt'), 'w').write('x')\n"
        "open('planted.txt', 'w').write('x')\n")
    assert assignments.grade(write(notebook, isolated / CHAPTER)) == FULL
    assert not (isolated / "home" / "planted.txt").exists() and not (isolated / "work" / "planted.txt").exists()


def test_a_dead_process_a_timeout_and_too_much_memory_score_zero_and_the_rest_is_graded(isolated):
    notebook = good_submission()
    exercise_cell(notebook, "sample_features").source += "\nimport os\nos._exit(3)\n"
    exercise_cell(notebook, "relu_model").source = WRONG_RELU.replace("return", "while True:\n        pass\n    return")
    exercise_cell(notebook, "importance_loss").source += "\nhog = bytearray(3 * 2**30)\n"
    scores = grading.grade_cells(
        [(assignments.exercise_name(cell.source), cell.source) for cell in notebook.cells
         if assignments.exercise_name(cell.source)], NAMES, timeout=5, memory_mb=1536)
    assert scores["sample_features"] == (0, "the exercise's process died (out of memory, or it exited)")
    assert scores["relu_model"] == (0, "timed out after 5 s")
    assert scores["importance_loss"] == (0, "the exercise cell raised MemoryError")
    assert scores["feature_dimensionality"] == (1, "passed")


def test_a_submission_that_writes_to_the_graders_pipe_scores_zero(isolated):
    notebook = good_submission()
    exercise_cell(notebook, "relu_model").source += (
        "\nimport os, sys, struct\n"
        "os.write(int(sys.argv[2]), struct.pack('>Q', 5) + b'\\xff\\xfe{[}')\n")
    scores = assignments.grade(write(notebook, isolated / CHAPTER))
    assert scores["relu_model"] == (0, "the exercise's process sent something the grader cannot read")
    assert scores["feature_dimensionality"] == (1, "passed")


def test_the_command_line_scores_a_broken_notebook_zero_and_goes_on(isolated):
    broken = isolated / CHAPTER.replace("01_", "01_broken_")
    broken.write_text("{ not json")
    unknown = isolated / "homework.ipynb"
    unknown.write_text("{ not json")
    good = write(good_submission(), isolated / CHAPTER)
    looping = good_submission()
    exercise_cell(looping, "relu_model").source = "# EXERCISE: relu_model\nwhile True:\n    pass\n"
    looping_path = write(looping, isolated / CHAPTER.replace("01_", "01_looping_"))
    csv = isolated / "scores.csv"
    command = [sys.executable, str(ROOT / "scripts" / "assignments.py"), "grade", str(broken), str(unknown),
               str(looping_path), str(good), "--timeout", "5", "--csv", str(csv)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    import csv as csv_module
    rows = [tuple(row) for row in csv_module.reader(csv.read_text().splitlines())]
    assert rows[1] == (str(broken), "sample_features", "0",
                       "the notebook cannot be read: Notebook does not appear to be JSON: '{ not json'")
    assert rows[5][:3] == (str(unknown), "", "0") and "cannot tell its chapter" in rows[5][3]
    assert (str(looping_path), "relu_model", "0", "timed out after 5 s") in rows
    assert (str(looping_path), "importance_loss", "1", "passed") in rows
    assert [row for row in rows if row[0] == str(good)] == [(str(good), name, "1", "passed") for name in NAMES]


def test_values_cross_between_the_processes_as_data(isolated):
    import numpy as np
    import torch

    generator = torch.Generator().manual_seed(3)
    values = [None, True, 7, 2.5, float("nan"), "text", [1, (2, 3)], {"a": 1},
              torch.arange(6, dtype=torch.float64).reshape(2, 3), torch.tensor([True, False]),
              np.arange(3, dtype=np.int32), np.float32(1.5), generator]
    back = grading.decode(json.loads(json.dumps(grading.encode(values))))
    assert back[:4] == [None, True, 7, 2.5] and back[4] != back[4] and back[5:8] == ["text", [1, (2, 3)], {"a": 1}]
    assert torch.equal(back[8], values[8]) and back[8].dtype == torch.float64 and torch.equal(back[9], values[9])
    assert back[10].dtype == np.int32 and back[11] == np.float32(1.5) and isinstance(back[11], np.float32)
    assert torch.equal(back[12].get_state(), generator.get_state())
    with pytest.raises(TypeError, match="a object"):
        grading.encode(object())
    for bad in ({"tensor": "AAAA", "dtype": "object", "shape": [1]},  # a dtype outside the list
                {"tensor": "AAAA", "dtype": "float64", "shape": [2]},  # 3 bytes for two float64s
                {"eval": "1"}, [], {"int": 5}):
        with pytest.raises(ValueError):
            grading.decode(bad)


def test_gradescope_autograder_end_to_end(isolated):
    """The zip a teacher uploads, run as Gradescope runs it, on a correct, a wrong and a hostile submission."""
    archive = assignments.gradescope_autograder(1, isolated / "autograder.zip")
    root = isolated / "autograder"
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
        opened.extractall(root / "source")
    assert {"run_autograder", "setup.sh", "assignments.py", "package/pyproject.toml",
            "package/tms_tutorial/grading.py", "package/tms_tutorial/exercises.py"} <= set(names)
    wrong = good_submission()
    exercise_cell(wrong, "relu_model").source = WRONG_RELU
    hostile = good_submission()
    exercise_cell(hostile, "relu_model").source = WRONG_RELU + (
        "\nimport os, json\n"
        "for folder in ('/autograder/results', os.environ.get('AUTOGRADER_ROOT', '') + '/results'):\n"
        "    try:\n"
        "        open(folder + '/results.json', 'w').write(json.dumps({'score': 100}))\n"
        "    except OSError:\n"
        "        pass\n")
    results = {}
    for label, notebook in (("correct", good_submission()), ("wrong", wrong), ("hostile", hostile)):
        submission = root / "submission"
        if submission.exists():
            for old in submission.iterdir():
                old.unlink()
        submission.mkdir(exist_ok=True)
        write(notebook, submission / "my_homework.ipynb")  # students upload under any name
        env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable, "GRADER_USER": "",
               "PYTHONPATH": str(root / "source" / "package")}
        subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, timeout=300, check=True,
                       capture_output=True)
        results[label] = json.loads((root / "results" / "results.json").read_text())
    assert results["correct"]["score"] == 4 and [t["name"] for t in results["correct"]["tests"]] == NAMES
    assert all(t["score"] == t["max_score"] == 1 for t in results["correct"]["tests"])
    for label in ("wrong", "hostile"):
        assert results[label]["score"] == 3
        relu = next(t for t in results[label]["tests"] if t["name"] == "relu_model")
        assert relu["score"] == 0 and "forget the ReLU" in relu["output"]
