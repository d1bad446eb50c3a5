"""Execute chapter notebooks in place, top to bottom in a fresh kernel, and store their outputs.

    python scripts/execute_chapters.py [book/NN_chapter.ipynb ...]   (default: every chapter)

The stored outputs are what readers see on GitHub and what nbval compares against.
Widget state is not stored: the book shows each explorer's static HTML form instead.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

BOOK = Path(__file__).resolve().parent.parent / "book"


def execute(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    # The kernel talks over Unix sockets in a private directory, not over TCP: nothing listens on
    # the network, and ipykernel does not warn "Kernel is running over TCP without encryption".
    with tempfile.TemporaryDirectory() as sockets:
        client = NotebookClient(
            notebook, timeout=600, kernel_name="python3", store_widget_state=False,
            resources={"metadata": {"path": str(path.parent)}},
        )
        kernel = client.create_kernel_manager()  # the client's own: it shuts the kernel down when done
        kernel.transport, kernel.ip = "ipc", os.path.join(sockets, "kernel")
        client.execute()
    elapsed = time.perf_counter() - start
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    return elapsed


def main(paths: list[str]) -> None:
    chapters = [Path(p) for p in paths] or sorted(BOOK.glob("*.ipynb"))
    for path in chapters:
        print(f"{path.name}: executed in {execute(path):.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
