"""Student notebooks from chapter notebooks, and a grader for filled-in ones.

One source stays the truth: the chapter notebook. An exercise there is a code cell that
starts with ``# EXERCISE: <name>`` (a name in tms_tutorial.exercises.CHECKERS) and marks
its solution with ``# BEGIN SOLUTION`` / ``# END SOLUTION`` lines; an optional
``# HINT: ...`` line inside the region becomes the stub's message. The chapter runs the
solution, so its figures render in the book.

    python scripts/assignments.py student book/NN_chapter.ipynb [-o assignments/]
        writes the student version: every solution region replaced by
        ``raise NotImplementedError("<hint>")`` at the same indentation, every output
        removed, and a call to the exercise's checker in a new cell after the exercise
        (unless the chapter already has one there)
    python scripts/assignments.py grade STUDENT.ipynb
        runs a filled-in student notebook top to bottom in a fresh kernel, each cell
        even after errors, and prints a score per exercise: 1 where the exercise's
        checker cell ran without error, else 0 with the error's first line

Only code cells change; markdown (the exercise's prompt above each cell) is kept.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import tempfile
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


def student_notebook(chapter: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version of a chapter (see the module's docstring)."""
    from tms_tutorial.exercises import CHECKERS

    student = nbformat.v4.new_notebook(metadata=chapter.metadata)
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
                student.cells.append(cell)
                following = cells[k + 1] if k + 1 < len(cells) else None
                if not (following is not None and following.cell_type == "code"
                        and f"check_{name}(" in following.source):
                    student.cells.append(nbformat.v4.new_code_cell(check_call(name)))
                continue
        student.cells.append(cell)
    return _with_ids(student)


def _with_ids(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Stable cell ids (the same chapter gives the same student notebook, byte for byte)."""
    for k, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{k:03d}"
    return notebook


def grade(path: Path, timeout: int = 600) -> Dict[str, Tuple[int, str]]:
    """Run a student notebook and score each exercise: {name: (1 or 0, what happened)}."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as sockets:
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": str(path.parent)}})
        client.km = client.create_kernel_manager()
        client.km.transport, client.km.ip = "ipc", str(Path(sockets) / "kernel")
        client.execute()
    scores: Dict[str, Tuple[int, str]] = {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for name in re.findall(r"check_([A-Za-z_][A-Za-z0-9_]*)\(", cell.source):
            errors = [o for o in cell.outputs if o.get("output_type") == "error"]
            if errors:
                scores[name] = (0, f"{errors[0]['ename']}: {errors[0]['evalue']}".splitlines()[0])
            else:
                scores[name] = (1, "passed")
    return scores


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("student", help="write the student version of chapter notebooks")
    make.add_argument("chapters", nargs="+", type=Path)
    make.add_argument("-o", "--out", type=Path, default=Path("assignments"))
    score = commands.add_parser("grade", help="run a filled-in student notebook and score each exercise")
    score.add_argument("notebook", type=Path)
    args = parser.parse_args(argv)
    if args.command == "student":
        args.out.mkdir(parents=True, exist_ok=True)
        for chapter in args.chapters:
            target = args.out / chapter.name
            nbformat.write(student_notebook(nbformat.read(chapter, as_version=4)), target)
            print(f"wrote {target}")
        return 0
    scores = grade(args.notebook)
    for name, (points, what) in scores.items():
        print(f"{name:28s} {points}   {what}")
    print(f"score: {sum(p for p, _ in scores.values())} of {len(scores)}")
    return 0 if scores and all(p for p, _ in scores.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
