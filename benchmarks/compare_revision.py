"""Is this checkout's training slower or faster than another revision's? An A/B in one process.

    python benchmarks/compare_revision.py REV [--rounds 7] [--only "(5, 2, 10)" ...]

On a shared machine the speed drifts by a factor of two within minutes, so two
benchmark runs one after the other cannot tell a 10% change from noise. This
script imports both versions of the package side by side (the other revision's
tms_tutorial, taken with `git archive`, under another name) and alternates
short timing windows of the two on each configuration, so that both meet the
same drift. Prints the median ms/step of each and their ratio.
"""

from __future__ import annotations

import argparse
import importlib
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tms_tutorial  # noqa: E402  (this checkout's package)
from bench_train import CONFIGS, densities  # noqa: E402


def load_revision(revision: str, folder: Path):
    """The package as it was at ``revision``, imported as tms_at_revision."""
    archive = subprocess.run(["git", "archive", revision, "tms_tutorial"], cwd=ROOT, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        try:
            tar.extractall(folder, filter="data")
        except TypeError:  # Pythons before 3.11.4 have no filter; the archive is our own repository's
            tar.extractall(folder)
    (folder / "tms_tutorial").rename(folder / "tms_at_revision")
    sys.path.insert(0, str(folder))
    return importlib.import_module("tms_at_revision")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", help="a commit, branch or tag to compare against, e.g. HEAD~3")
    parser.add_argument("--rounds", type=int, default=7, help="alternating timing windows per version")
    parser.add_argument("--only", nargs="*", default=None, help="names of configurations to run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        other = load_revision(args.revision, Path(folder))
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.revision} against this checkout")
        print(f"{'config (n, m, instances)':<26}{args.revision + ' ms/step':>18}{'this ms/step':>14}{'this / other':>14}")
        for name, (n, m, count, rule, kind) in CONFIGS.items():
            if kind != "toy" or (args.only and name not in args.only):
                continue  # the other models may not exist at the other revision
            p = densities(rule, count)
            runs = []
            for library in (other, tms_tutorial):
                model, features = library.ToyModel(n, m, count), library.SparseFeatures(n, p)
                start = time.perf_counter()
                library.train(model, features, steps=3, progress=False)
                steps = max(3, int(0.7 / ((time.perf_counter() - start) / 3)))  # windows of about 0.7 s
                runs.append((library, model, features, steps, []))
            for _ in range(args.rounds):
                for library, model, features, steps, times in runs:
                    start = time.perf_counter()
                    library.train(model, features, steps=steps, progress=False)
                    times.append((time.perf_counter() - start) / steps * 1000)
            theirs, ours = (statistics.median(run[4]) for run in runs)
            print(f"{name:<26}{theirs:>18.2f}{ours:>14.2f}{ours / theirs:>13.2f}x", flush=True)


if __name__ == "__main__":
    main()
