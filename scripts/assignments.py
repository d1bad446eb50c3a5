"""Student notebooks from chapter notebooks, and a grader for filled-in ones.

One source stays the truth: the chapter notebook. An exercise there is a code cell that
starts with ``# EXERCISE: <name>`` (a name in tms_tutorial.exercises.CHECKERS), is tagged
``solution`` and ``hide-input``, and marks its solution with ``# BEGIN SOLUTION`` /
``# END SOLUTION`` lines; an optional ``# HINT: ...`` line inside the region becomes the
stub's message. The markdown cell above it holds the exercise's prompt, and the code cell
after it calls the checker. The chapter runs the solution, so the book shows the check
passing; book/_ext/solutions.py folds the solution (or withholds it) in the book. An
exercise cell defines its function and imports what it uses, so that it runs on its own.

    python scripts/assignments.py student book/NN_chapter.ipynb [...] [-o assignments/]
        writes the student version: a note under the title, every solution region
        replaced by ``raise NotImplementedError("<hint>")`` at the same indentation, every
        output removed, and a call to the exercise's checker after each exercise (unless
        the chapter already has one there)
    python scripts/assignments.py grade STUDENT.ipynb [...] [--chapter N] [--timeout 60] [--memory 4096]
            [--user nobody] [--csv FILE] [--gradescope results.json]
        scores every exercise of each notebook's chapter, 1 or 0 with a one-line reason. The
        notebook's own check cells are ignored and cannot change the score: each exercise
        cell runs in a process of its own (tms_tutorial.grading), in a fresh temporary
        directory that is its home, with a memory limit and a deadline per exercise, and the
        library's checker runs here and calls the student's function there. A missing or
        deleted exercise scores 0 ("missing"); an answer that calls the library's own
        implementation scores 0; a notebook that cannot be read, a process that dies and a
        timeout score 0 for that student, and the batch goes on. The chapter comes from the
        notebook's metadata (the student notebooks carry it), else from its NN_ file name.
        --csv writes notebook, exercise, points, message rows for a class's notebooks;
        --gradescope writes Gradescope's results.json for one submission.
    python scripts/assignments.py gradescope --chapter N -o autograder.zip
        writes Gradescope's autograder for a chapter (setup.sh, run_autograder, this script
        and the library); upload it as a "Programming Assignment" autograder. Gradescope
        was chosen over otter-grader because otter runs its tests inside the student's own
        kernel, the very process a submission can patch; Gradescope only asks for a
        results.json, which this grader writes from its own process.

The trust boundary: the student's code cannot change its score, but it runs with the
grading account's rights (files, network, CPU until the deadline). Grade in a throwaway
container, as root inside it with --user nobody, for example

    docker run --rm -v "$PWD:/course" python:3.11 sh -c '
        pip install torch --index-url https://download.pytorch.org/whl/cpu &&
        pip install numpy matplotlib ipywidgets tqdm nbformat ipython &&
        PYTHONPATH=/course python /course/scripts/assignments.py grade --user nobody \
            --csv /course/scores.csv /course/submitted/*.ipynb'

(pip needs the network; to grade without it, install into an image of your own first
and run that with --network none).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import nbformat

EXERCISE = re.compile(r"^# EXERCISE: *([A-Za-z_][A-Za-z0-9_]*) *$", re.MULTILINE)
BEGIN, END, HINT = "# BEGIN SOLUTION", "# END SOLUTION", "# HINT:"


def exercise_name(source: str) -> Optional[str]:
    """The exercise a code cell holds, or None."""
    match = EXERCISE.search(source)
    return match.group(1) if match else None


def strip_solutions(source: str, name: str) -> str:
    """The cell's source with every solution region replaced by a stub that raises NotImplementedError."""
    out: List[str] = []
    region: Optional[Tuple[str, List[str]]] = None  # (indentation, lines) while inside a region
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            if region is not None:
                raise ValueError(f"exercise {name}: {BEGIN} inside another solution region")
            region = (line[: len(line) - len(line.lstrip())], [])
        elif stripped == END:
            if region is None:
                raise ValueError(f"exercise {name}: {END} without {BEGIN}")
            indent, lines = region
            hints = [text.strip()[len(HINT):].strip() for text in lines if text.strip().startswith(HINT)]
            message = hints[0] if hints else f"write {name} (see the text above), then run the check below"
            out.append(f"{indent}raise NotImplementedError({message!r})")
            region = None
        elif region is not None:
            region[1].append(line)
        else:
            out.append(line)
    if region is not None:
        raise ValueError(f"exercise {name}: {BEGIN} without {END}")
    return "\n".join(out)


def check_call(name: str) -> str:
    return f"from tms_tutorial import exercises\n\nexercises.check_{name}({name})"


STUDENT_NOTE = """**Student version.** Each exercise's solution is replaced by a stub that raises
`NotImplementedError` with a hint. Write the function, run its cell, then the check after
it: a line starting with \u2713 means your answer agrees with the library's; otherwise the
check's message names what looks wrong. The rest of the chapter runs as in the book and
does not use your functions. (Generated by `scripts/assignments.py` from
`{chapter}`.)"""
SOLUTION_TAGS = ("solution", "hide-input")


def student_notebook(chapter: nbformat.NotebookNode, source: str = "the book") -> nbformat.NotebookNode:
    """The student version of a chapter (see the module's docstring); source names the chapter in the note."""
    from tms_tutorial.exercises import CHECKERS

    student = nbformat.v4.new_notebook(metadata=copy.deepcopy(chapter.metadata))
    number = re.match(r"(\d+)_", Path(source).name)
    if number:  # the grader reads the chapter from here
        student.metadata["tms_tutorial"] = {"chapter": int(number.group(1))}
    cells = chapter.cells
    for k, cell in enumerate(cells):
        cell = copy.deepcopy(cell)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
            name = exercise_name(cell.source)
            if name is not None:
                if name not in CHECKERS:
                    raise ValueError(f"exercise {name!r} has no checker in tms_tutorial.exercises")
                if BEGIN not in cell.source:
                    raise ValueError(f"exercise {name!r} marks no solution ({BEGIN} ... {END})")
                cell.source = strip_solutions(cell.source, name)
                tags = [tag for tag in cell.metadata.get("tags", []) if tag not in SOLUTION_TAGS]
                if tags:
                    cell.metadata["tags"] = tags
                else:
                    cell.metadata.pop("tags", None)
                student.cells.append(cell)
                following = cells[k + 1] if k + 1 < len(cells) else None
                if not (following is not None and following.cell_type == "code"
                        and f"check_{name}(" in following.source):
                    student.cells.append(nbformat.v4.new_code_cell(check_call(name)))
                continue
        student.cells.append(cell)
        if k == 0 and cell.cell_type == "markdown":  # under the title
            student.cells.append(nbformat.v4.new_markdown_cell(STUDENT_NOTE.format(chapter=source)))
    return _with_ids(student)


def _with_ids(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Stable cell ids (the same chapter gives the same student notebook, byte for byte)."""
    for k, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{k:03d}"
    return notebook


def _checks(source: str) -> List[str]:
    """The exercises a cell checks: every exercises.check_<name>( call in it."""
    return re.findall(r"\bexercises\.check_([A-Za-z_][A-Za-z0-9_]*)\(", source)


class GradingError(ValueError):
    """A notebook the grader cannot score at all (it cannot tell the chapter)."""


def notebook_chapter(path: Path, notebook: Optional[nbformat.NotebookNode]) -> Optional[int]:
    """The chapter a student notebook belongs to: its metadata, else its file name's NN_ prefix."""
    from tms_tutorial.exercises import EXERCISES

    if notebook is not None:
        number = notebook.metadata.get("tms_tutorial", {}).get("chapter")
        if isinstance(number, int) and number in EXERCISES:
            return number
    match = re.match(r"(\d+)_", path.name)
    if match and int(match.group(1)) in EXERCISES:
        return int(match.group(1))
    return None


def grade(path: Path, chapter: Optional[int] = None, timeout: float = 60.0, memory_mb: int = 4096,
          user: Optional[str] = None) -> Dict[str, Tuple[int, str]]:
    """Score every exercise of a student notebook's chapter: {name: (1 or 0, what happened)}.

    The notebook's check cells are ignored: each exercise cell runs in a worker process
    of its own (tms_tutorial.grading) and the library's checker, in this process, calls
    the student's function there. An exercise whose cell is missing scores 0; so does
    every exercise of a notebook that cannot be read. chapter: the chapter's number
    (default: the notebook's metadata, else its file name's NN_ prefix). timeout: seconds
    per exercise; memory_mb: the worker's memory; user: the account the student's code
    runs as (for a grader running as root).
    """
    from tms_tutorial import grading
    from tms_tutorial.exercises import EXERCISES

    path = Path(path)
    try:
        notebook, problem = nbformat.read(path, as_version=4), None
        if not isinstance(notebook.get("cells"), list):
            raise ValueError("it has no list of cells")
    except Exception as exc:  # not JSON, not a notebook, unreadable
        notebook, problem = None, str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    if chapter is None:
        chapter = notebook_chapter(path, notebook)
    if chapter not in EXERCISES:
        raise GradingError(f"{path}: cannot tell its chapter (no tms_tutorial metadata and no NN_ file name "
                           f"prefix); pass the chapter (one of {sorted(EXERCISES)})")
    names = [name for name, _, _ in EXERCISES[chapter]]
    if notebook is None:
        return {name: (0, f"the notebook cannot be read: {problem}") for name in names}
    cells: Dict[str, str] = {}
    for cell in notebook.cells:
        source = cell.get("source") if isinstance(cell, dict) else None
        if cell.get("cell_type") == "code" and isinstance(source, str) and exercise_name(source) in names:
            cells.pop(exercise_name(source), None)  # a later cell of the same exercise replaces it, as when run
            cells[exercise_name(source)] = source
    return grading.grade_cells(list(cells.items()), names, timeout=timeout, memory_mb=memory_mb, user=user)


def gradescope_results(scores: Dict[str, Tuple[int, str]], note: str = "") -> dict:
    """Gradescope's results.json for one submission: one test per exercise, worth 1 point."""
    tests = [{"name": name, "score": points, "max_score": 1, "output": what, "visibility": "visible"}
             for name, (points, what) in scores.items()]
    return {"score": sum(points for points, _ in scores.values()), "output": note, "tests": tests,
            "visibility": "visible", "stdout_visibility": "hidden"}


RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission: it grades the one notebook the student uploaded.
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{PYTHON:-python3}}"
mkdir -p "$ROOT/results"
# the student's code runs as this account (GRADER_USER= keeps the grader's own)
USER_ARG=()
if [ -n "${{GRADER_USER-{user}}}" ]; then USER_ARG=(--user "${{GRADER_USER-{user}}}"); fi
cd "$ROOT/source" && "$PYTHON" assignments.py grade --chapter {chapter} "${{USER_ARG[@]}}" \\
    --gradescope "$ROOT/results/results.json" "$ROOT"/submission/*.ipynb
exit 0
"""
SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image.
set -euo pipefail
cd /autograder/source
python3 -m pip install torch --index-url https://download.pytorch.org/whl/cpu
python3 -m pip install ./package nbformat ipython
"""


def gradescope_autograder(chapter: int, out: Path, user: str = "nobody") -> Path:
    """Write Gradescope's autograder zip for a chapter: setup.sh, run_autograder and the grader's source."""
    import zipfile

    from tms_tutorial.exercises import EXERCISES

    if chapter not in EXERCISES:
        raise ValueError(f"chapter must be one of {sorted(EXERCISES)}; got {chapter!r}")
    root = Path(__file__).resolve().parent.parent
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        def add(name: str, text: str) -> None:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o755 << 16
            archive.writestr(info, text)
        add("run_autograder", RUN_AUTOGRADER.format(chapter=chapter, user=user))
        add("setup.sh", SETUP)
        add("assignments.py", Path(__file__).read_text())
        add("package/pyproject.toml", (root / "pyproject.toml").read_text())
        add("package/README.md", (root / "README.md").read_text())
        for source in sorted((root / "tms_tutorial").rglob("*")):
            if source.is_file() and source.suffix in (".py", ".json"):
                add(f"package/{source.relative_to(root)}", source.read_text())
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("student", help="write the student version of chapter notebooks")
    make.add_argument("chapters", nargs="+", type=Path)
    make.add_argument("-o", "--out", type=Path, default=Path("assignments"))
    score = commands.add_parser("grade", help="score each exercise of filled-in student notebooks")
    score.add_argument("notebooks", nargs="+", type=Path)
    score.add_argument("--chapter", type=int, help="the chapter the notebooks answer (default: from each notebook)")
    score.add_argument("--timeout", type=float, default=60.0, help="seconds per exercise (default 60)")
    score.add_argument("--memory", type=int, default=4096, help="MiB of memory for the student's code (default 4096)")
    score.add_argument("--user", help="run the student's code as this account (a grader running as root)")
    score.add_argument("--csv", type=Path, help="also write the scores to this CSV file")
    score.add_argument("--gradescope", type=Path, help="write Gradescope's results.json for one submission here")
    pack = commands.add_parser("gradescope", help="write Gradescope's autograder zip for a chapter")
    pack.add_argument("--chapter", type=int, required=True)
    pack.add_argument("-o", "--out", type=Path, required=True)
    pack.add_argument("--user", default="nobody", help="the account the student's code runs as (default nobody)")
    args = parser.parse_args(argv)
    if args.command == "student":
        args.out.mkdir(parents=True, exist_ok=True)
        for chapter in args.chapters:
            target = args.out / chapter.name
            notebook = student_notebook(nbformat.read(chapter, as_version=4), f"book/{chapter.name}")
            nbformat.write(notebook, target)
            print(f"wrote {target}")
        return 0
    if args.command == "gradescope":
        print(f"wrote {gradescope_autograder(args.chapter, args.out, args.user)}")
        return 0
    if args.gradescope is not None:  # one submission: a notebook that is missing or doubled scores 0
        found = [path for path in args.notebooks if path.is_file()]
        args.gradescope.parent.mkdir(parents=True, exist_ok=True)
        if len(found) != 1:
            from tms_tutorial.exercises import EXERCISES
            names = [name for name, _, _ in EXERCISES.get(args.chapter, [])]
            note = f"upload exactly one notebook (.ipynb); found {len(found)}"
            results = gradescope_results({name: (0, note) for name in names}, note)
            args.gradescope.write_text(json.dumps(results, indent=1))
            print(note)
            return 1
    rows, full_marks = [], True
    for path in args.notebooks:
        print(path)
        try:
            scores = grade(path, chapter=args.chapter, timeout=args.timeout, memory_mb=args.memory, user=args.user)
        except (GradingError, ValueError) as exc:  # this notebook only: the batch goes on
            print(f"  not graded: {exc}")
            rows.append((str(path), "", 0, f"not graded: {exc}"))
            full_marks = False
            continue
        for name, (points, what) in scores.items():
            print(f"  {name:28s} {points}   {what}")
            rows.append((str(path), name, points, what))
        print(f"  score: {sum(p for p, _ in scores.values())} of {len(scores)}")
        full_marks = full_marks and bool(scores) and all(p for p, _ in scores.values())
        if args.gradescope is not None:
            args.gradescope.write_text(json.dumps(gradescope_results(scores), indent=1))
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["notebook", "exercise", "points", "message"])
            writer.writerows(rows)
    return 0 if full_marks else 1


if __name__ == "__main__":
    sys.exit(main())
