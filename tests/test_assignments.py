"""scripts/assignments.py: student notebooks generated from a chapter, and the grader's scores;
the chapters' own exercises, the committed student notebooks, and full marks for correct answers."""

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from scripts import assignments
from tms_tutorial.exercises import EXERCISES

ROOT = Path(__file__).resolve().parent.parent
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
CHAPTERS = [ROOT / f"{entry['file']}.ipynb" for entry in TOC["chapters"]]

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
        nbformat.v4.new_code_cell("raise RuntimeError('an experiment of the chapter')"),
    ]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="stored output")]
    return nb


def test_the_student_version_replaces_each_solution_with_a_stub_and_adds_missing_checks():
    student = assignments.student_notebook(chapter(), "book/01_chapter.ipynb")
    sources = [cell.source for cell in student.cells]
    assert sources[1].startswith("**Student version.**") and "`book/01_chapter.ipynb`" in sources[1]
    assert "torch.relu" not in sources[2] and "BEGIN SOLUTION" not in sources[2]
    assert "    raise NotImplementedError('the output is ReLU(W^T W x + b); with a batch of rows x, that is " \
           "x @ W.T @ W + b')" in sources[2]
    assert sources[3] == "from tms_tutorial import exercises\n\nexercises.check_relu_model(relu_model)"  # added
    assert "raise NotImplementedError('write pair_cosine" in sources[5]
    assert sources[6].endswith("exercises.check_pair_cosine(pair_cosine)")  # kept, not doubled
    assert len(sources) == 8
    assert all(cell.get("outputs", []) == [] for cell in student.cells if cell.cell_type == "code")
    assert "tags" not in student.cells[2].metadata  # solution and hide-input are the book's, not the student's
    assert assignments.student_notebook(chapter(), "book/01_chapter.ipynb") == student  # same chapter, same notebook


def test_marking_errors_are_refused():
    nb = chapter()
    nb.cells[1].source = EXERCISE_CELL.replace("    # END SOLUTION", "")
    with pytest.raises(ValueError, match="without"):
        assignments.student_notebook(nb)
    nb.cells[1].source = EXERCISE_CELL.replace("relu_model", "no_such_exercise")
    with pytest.raises(ValueError, match="no checker"):
        assignments.student_notebook(nb)


def test_the_command_line_writes_student_notebooks(tmp_path, capsys):
    source = tmp_path / "01_chapter.ipynb"
    nbformat.write(chapter(), source)
    assert assignments.main(["student", str(source), "-o", str(tmp_path / "out")]) == 0
    written = nbformat.read(tmp_path / "out" / "01_chapter.ipynb", as_version=4)
    assert written == assignments.student_notebook(chapter(), "book/01_chapter.ipynb")
    nbformat.validate(written)


# ---------------------------------------------------------------- the book's chapters


def chapter_number(path: Path) -> int:
    return int(path.name.split("_")[0])


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.name)
def test_each_chapter_holds_its_exercises_in_the_course_format(path):
    """Every exercise listed for the chapter, in order: a prompt above, the marked solution (tagged to fold in
    the book) in a cell that runs on its own, and its checker right after; no other cell is tagged solution."""
    notebook = nbformat.read(path, as_version=4)
    number, cells = chapter_number(path), notebook.cells
    found = []
    for k, cell in enumerate(cells):
        tags = cell.metadata.get("tags", [])
        name = assignments.exercise_name(cell.source) if cell.cell_type == "code" else None
        assert ("solution" in tags) == (name is not None), f"cell {k}: tagged solution iff it is an exercise"
        if name is None:
            continue
        found.append(name)
        assert "hide-input" in tags, f"{name}: the solution should fold in the book (tag hide-input)"
        assert cell.source.startswith(f"# EXERCISE: {name}\n") and assignments.BEGIN in cell.source
        assert re.search(rf"^def {name}\(", cell.source, re.MULTILINE), f"{name}: the cell defines {name}"
        prompt = cells[k - 1]
        assert prompt.cell_type == "markdown" and f"**Exercise {number}.{len(found)}** (`{name}`)" in prompt.source
        assert cells[k + 1].source == assignments.check_call(name), f"{name}: its checker follows it"
        assert cell.outputs == [], f"{name}: defining the function prints nothing"
        long = [line for line in cell.source.splitlines() if len(line) > 80 and assignments.HINT not in line]
        assert not long, f"{name}: the solution's lines should fit the page's code column (80 characters): {long}"
        printed = "".join(output.get("text", "") for output in cells[k + 1].outputs)
        assert printed.startswith(f"\u2713 {name}: correct"), f"{name}: the stored check should pass: {printed!r}"
    assert found == [name for name, _, _ in EXERCISES[number]]
    for cell in cells:  # the chapter runs on with stubs: only the checks call the students' functions
        if cell.cell_type == "code" and assignments.exercise_name(cell.source) is None:
            for name in found:
                called = re.search(rf"(?<![.\w]){name}\(", cell.source)
                assert not called or cell.source == assignments.check_call(name), f"a chapter cell calls {name}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.name)
def test_the_committed_student_notebooks_are_generated_from_the_chapters(path):
    committed = ROOT / "assignments" / path.name
    assert committed.exists(), f"no student notebook for {path.name}: run make assignments"
    expected = nbformat.writes(assignments.student_notebook(nbformat.read(path, as_version=4), f"book/{path.name}"))
    expected += "" if expected.endswith("\n") else "\n"  # as nbformat.write ends the file
    assert committed.read_text() == expected, (
        f"assignments/{path.name} is out of date with book/{path.name}: run make assignments")


def filled_in(student: nbformat.NotebookNode, chapter: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student notebook with every stub replaced by a correct answer (the chapter's, markers removed)."""
    answers = {assignments.exercise_name(cell.source): cell.source for cell in chapter.cells
               if cell.cell_type == "code" and assignments.exercise_name(cell.source)}
    markers = (assignments.BEGIN, assignments.END, assignments.HINT)
    for cell in student.cells:
        name = assignments.exercise_name(cell.source) if cell.cell_type == "code" else None
        if name is not None:
            cell.source = "\n".join(line for line in answers[name].splitlines() if not line.strip().startswith(markers))
    return student


def test_the_student_notebooks_score_zero_as_handed_out_and_full_marks_filled_in(tmp_path):
    """Through the grader's path, as a teacher runs it: each stub fails with its hint, each correct answer passes."""
    for path in CHAPTERS:
        names = [name for name, _, _ in EXERCISES[chapter_number(path)]]
        handed_out = ROOT / "assignments" / path.name
        scores = assignments.grade(handed_out)
        assert list(scores) == names
        assert all(points == 0 and what.startswith("NotImplementedError: ") for points, what in scores.values())
        assert nbformat.read(handed_out, as_version=4).metadata["tms_tutorial"] == {"chapter": chapter_number(path)}

        student = filled_in(nbformat.read(handed_out, as_version=4), nbformat.read(path, as_version=4))
        nbformat.write(student, tmp_path / path.name)
        assert assignments.grade(tmp_path / path.name) == {name: (1, "passed") for name in names}
