"""scripts/assignments.py: student notebooks generated from a chapter, and the grader's scores."""

import nbformat
import pytest

from scripts import assignments

EXERCISE_CELL = '''# EXERCISE: relu_model
import torch


def relu_model(W, b, x):
    # BEGIN SOLUTION
    # HINT: the output is ReLU(W^T W x + b); with a batch of rows x, that is x @ W.T @ W + b
    return torch.relu(x @ W.T @ W + b)
    # END SOLUTION'''

COSINE_CELL = '''# EXERCISE: pair_cosine
def pair_cosine(W, i, j):
    # BEGIN SOLUTION
    return (W[:, i] @ W[:, j]) / (W[:, i].norm() * W[:, j].norm())
    # END SOLUTION'''


def chapter():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("**Exercise.** Write the ReLU output model."),
        nbformat.v4.new_code_cell(EXERCISE_CELL),
        nbformat.v4.new_markdown_cell("**Exercise.** The cosine between two features."),
        nbformat.v4.new_code_cell(COSINE_CELL),
        nbformat.v4.new_code_cell("from tms_tutorial import exercises\n\nexercises.check_pair_cosine(pair_cosine)"),
    ]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="stored output")]
    return nb


def test_the_student_version_replaces_each_solution_with_a_stub_and_adds_missing_checks():
    student = assignments.student_notebook(chapter())
    sources = [cell.source for cell in student.cells]
    assert "torch.relu" not in sources[1] and "BEGIN SOLUTION" not in sources[1]
    assert "    raise NotImplementedError('the output is ReLU(W^T W x + b); with a batch of rows x, that is " \
           "x @ W.T @ W + b')" in sources[1]
    assert sources[2] == "from tms_tutorial import exercises\n\nexercises.check_relu_model(relu_model)"  # added
    assert "raise NotImplementedError('write pair_cosine" in sources[4]
    assert sources[5].endswith("exercises.check_pair_cosine(pair_cosine)") and len(sources) == 6  # kept, not doubled
    assert all(cell.get("outputs", []) == [] for cell in student.cells if cell.cell_type == "code")
    assert assignments.student_notebook(chapter()) == student  # the same chapter, the same notebook


def test_marking_errors_are_refused():
    nb = chapter()
    nb.cells[1].source = EXERCISE_CELL.replace("    # END SOLUTION", "")
    with pytest.raises(ValueError, match="without"):
        assignments.student_notebook(nb)
    nb.cells[1].source = EXERCISE_CELL.replace("relu_model", "no_such_exercise")
    with pytest.raises(ValueError, match="no checker"):
        assignments.student_notebook(nb)


def test_the_grader_scores_stubs_zero_and_filled_in_exercises_full_marks(tmp_path):
    student = assignments.student_notebook(chapter())
    path = tmp_path / "student.ipynb"
    nbformat.write(student, path)
    scores = assignments.grade(path)
    assert {name: points for name, (points, _) in scores.items()} == {"relu_model": 0, "pair_cosine": 0}
    assert scores["relu_model"][1].startswith("NotImplementedError: the output is ReLU")

    student.cells[1].source = student.cells[1].source.replace(
        "    raise NotImplementedError('the output is ReLU(W^T W x + b); with a batch of rows x, that is "
        "x @ W.T @ W + b')", "    return torch.relu(x @ W.T @ W + b)")
    student.cells[4].source = student.cells[4].source.replace(
        student.cells[4].source.splitlines()[-1], "    return W[:, i] @ W[:, j]")  # a typical mistake
    nbformat.write(student, path)
    scores = assignments.grade(path)
    assert scores["relu_model"] == (1, "passed")
    assert scores["pair_cosine"][0] == 0 and "lengths" in scores["pair_cosine"][1]
    assert assignments.main(["grade", str(path)]) == 1


def test_the_command_line_writes_student_notebooks(tmp_path, capsys):
    source = tmp_path / "01_chapter.ipynb"
    nbformat.write(chapter(), source)
    assert assignments.main(["student", str(source), "-o", str(tmp_path / "out")]) == 0
    written = nbformat.read(tmp_path / "out" / "01_chapter.ipynb", as_version=4)
    assert written == assignments.student_notebook(chapter())
    nbformat.validate(written)
