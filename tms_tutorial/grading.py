"""Grading that a submission cannot touch: the student's code runs in a process of its own.

The grader (the trusted process) never runs a line of the student's code. It starts a
worker (``python -m tms_tutorial.grading``, the untrusted process) in a fresh temporary
directory, with that directory as its home, a memory limit and a deadline per exercise,
and sends it the source of the student's exercise cells. The worker executes them and
then only answers calls: the grader runs the library's own checker
(``tms_tutorial.exercises.CHECKERS``) on a stand-in for the student's function, and each
call of the stand-in sends its arguments to the worker and reads back what the student's
function returned. So the comparison, the checker and the numpy and torch it uses all
live in the grader: a submission that patches ``torch.allclose`` or redefines the checker
changes only its own process. Values cross between the two as plain JSON (tensors and
arrays as raw bytes with a dtype from a fixed list and a shape), never as pickles; what
the worker sends is checked before it is used.

The worker also reports whether the student's function called into the library itself
(a profile hook on every Python call while the answer runs); an answer that uses the
library's own implementation scores 0.

What this does not do: stop the student's code from reading or writing files the grading
account can reach, from using the network, or from spending the CPU until the deadline.
Run the grader inside a container or an account of its own (scripts/assignments.py's
docstring gives the command).
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import io
import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

PACKAGE = Path(__file__).resolve().parent
MAX_MESSAGE = 512 * 2**20  # bytes: the largest value either side accepts in one message
TORCH_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
                "complex64", "complex128")
NUMPY_DTYPES = TORCH_DTYPES


class SubmissionFailed(BaseException):
    """The worker died, ran past its deadline or sent something unreadable.

    A BaseException, so that no checker's ``except`` clause can take it for an ordinary
    error of the student's function.
    """


# ---------------------------------------------------------------- values as JSON, both ways


def encode(value: Any) -> Any:
    """A JSON-able description of value; TypeError for a type the grader does not exchange."""
    import numpy as np
    import torch

    if value is None:
        return {"none": True}
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": str(value)}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, str):
        return {"str": value}
    if isinstance(value, (list, tuple)):
        return {"list" if isinstance(value, list) else "tuple": [encode(v) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("a dict with keys other than strings")
        return {"dict": {k: encode(v) for k, v in value.items()}}
    if isinstance(value, torch.Generator):
        return {"generator": base64.b64encode(value.get_state().numpy().tobytes()).decode()}
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        dtype = str(tensor.dtype).replace("torch.", "")
        if dtype not in TORCH_DTYPES:
            raise TypeError(f"a tensor of dtype {dtype}")
        return {"tensor": base64.b64encode(tensor.numpy().tobytes()).decode(), "dtype": dtype,
                "shape": list(tensor.shape)}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.array(value)  # a copy, contiguous; 0-d for a scalar
        if array.dtype.name not in NUMPY_DTYPES:
            raise TypeError(f"an array of dtype {array.dtype.name}")
        return {"ndarray": base64.b64encode(array.tobytes()).decode(), "dtype": array.dtype.name,
                "shape": list(array.shape), "scalar": isinstance(value, np.generic)}
    raise TypeError(f"a {type(value).__name__}")


def decode(data: Any, depth: int = 0) -> Any:
    """The value encode described; ValueError for anything malformed (the worker's data is untrusted)."""
    import numpy as np
    import torch

    if depth > 32 or not isinstance(data, dict) or len(data) == 0:
        raise ValueError("malformed value")
    kind = next(iter(data))
    payload = data[kind]
    if kind == "none":
        return None
    if kind == "bool" and isinstance(payload, bool):
        return payload
    if kind == "int" and isinstance(payload, str) and len(payload) < 5000:
        return int(payload)
    if kind == "float" and isinstance(payload, str) and len(payload) < 64:
        return float(payload)
    if kind == "str" and isinstance(payload, str):
        return payload
    if kind in ("list", "tuple") and isinstance(payload, list):
        items = [decode(v, depth + 1) for v in payload]
        return items if kind == "list" else tuple(items)
    if kind == "dict" and isinstance(payload, dict):
        return {str(k): decode(v, depth + 1) for k, v in payload.items()}
    if kind == "generator" and isinstance(payload, str):
        state = torch.frombuffer(bytearray(base64.b64decode(payload, validate=True)), dtype=torch.uint8)
        generator = torch.Generator()
        generator.set_state(state.clone())
        return generator
    if kind in ("tensor", "ndarray") and isinstance(payload, str):
        dtype, shape = data.get("dtype"), data.get("shape")
        if dtype not in TORCH_DTYPES or not isinstance(shape, list) or len(shape) > 16 \
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise ValueError("malformed array")
        raw = base64.b64decode(payload, validate=True)
        array = np.frombuffer(raw, dtype=np.dtype(dtype))
        if array.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError("an array whose bytes do not match its shape")
        array = array.reshape(shape).copy()
        if kind == "tensor":
            return torch.from_numpy(array)
        return array[()] if data.get("scalar") is True else array
    raise ValueError("malformed value")


def _send(fd: int, message: dict, deadline: Optional[float] = None) -> None:
    body = json.dumps(message).encode()
    data = struct.pack(">Q", len(body)) + body
    view = memoryview(data)
    while view:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise SubmissionFailed("timeout")
        written = os.write(fd, view[: 1 << 16])
        view = view[written:]


def _read_exactly(fd: int, size: int, deadline: Optional[float]) -> bytes:
    chunks, left_bytes = [], size
    while left_bytes:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise SubmissionFailed("timeout")
        chunk = os.read(fd, min(left_bytes, 1 << 20))
        if not chunk:
            raise SubmissionFailed("died")
        chunks.append(chunk)
        left_bytes -= len(chunk)
    return b"".join(chunks)


def _receive(fd: int, deadline: Optional[float] = None) -> dict:
    (size,) = struct.unpack(">Q", _read_exactly(fd, 8, deadline))
    if size > MAX_MESSAGE:
        raise SubmissionFailed("unreadable")
    try:
        message = json.loads(_read_exactly(fd, size, deadline))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionFailed("unreadable") from exc
    if not isinstance(message, dict):
        raise SubmissionFailed("unreadable")
    return message


# ---------------------------------------------------------------- the untrusted side


def _library_calls(target: Callable, seen: List[str], *args) -> Any:
    """Call target, appending to seen the library functions (outside this module) it calls, by qualified name."""
    package, me = str(PACKAGE) + os.sep, str(Path(__file__).resolve())

    def profile(frame, event, arg):
        if event == "call":
            filename = frame.f_code.co_filename
            if filename.startswith(package) and filename != me:
                module = os.path.relpath(filename, PACKAGE.parent)[:-3].replace(os.sep, ".")
                name = f"{module}.{frame.f_code.co_name}"
                if name not in seen and len(seen) < 20:
                    seen.append(name)

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        return target(*args)
    finally:
        sys.setprofile(previous)


def _message(exc: BaseException) -> str:
    """The first line of an exception's message ("" if it has none, or if producing it fails)."""
    try:
        text = str(exc).strip().splitlines()
    except BaseException:  # an exception whose message itself fails
        text = []
    return text[0][:500] if text else ""


def _error(exc: BaseException) -> dict:
    return {"error": {"type": type(exc).__name__, "message": _message(exc)}}


def _python_source(source: str) -> str:
    """A cell's source as Python: IPython magics and shell escapes become calls."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # without IPython a cell must be plain Python
        return source
    return TransformerManager().transform_cell(source)


def worker(read_fd: int, write_fd: int) -> None:
    """The student's side: run the cells it is sent, then answer calls until told to stop."""
    import torch

    namespace: Dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    while True:
        try:
            message = _receive(read_fd)
        except SubmissionFailed:
            return
        op = message.get("op")
        if op == "run":
            errors = []
            for source in message["cells"]:
                try:
                    with contextlib.redirect_stdout(io.StringIO()):
                        exec(compile(_python_source(source), "<exercise cell>", "exec"), namespace)
                    errors.append(None)
                except BaseException as exc:  # the student's cell raised: reported, not fatal
                    errors.append(_error(exc)["error"])
            _send(write_fd, {"errors": errors})
        elif op == "describe":
            value = namespace.get(message["name"])
            _send(write_fd, {"defined": message["name"] in namespace, "callable": callable(value),
                             "type": type(value).__name__})
        elif op == "call":
            library: List[str] = []
            try:
                args = decode(message["args"])
                generators = [a for a in args if isinstance(a, torch.Generator)]
                with contextlib.redirect_stdout(io.StringIO()):
                    value = _library_calls(namespace[message["name"]], library, *args)
                try:
                    reply = {"value": encode(value)}
                except TypeError as exc:
                    reply = {"unsupported": str(exc)}
                reply["generators"] = [encode(g) for g in generators]
            except BaseException as exc:
                reply = _error(exc)
            reply["library"] = library
            _send(write_fd, reply)
        else:
            return


# ---------------------------------------------------------------- the trusted side


class Submission:
    """One student's exercise cells, run in a worker process; restarted after a crash or a timeout."""

    def __init__(self, cells: Sequence[Tuple[str, str]], memory_mb: int = 4096, workdir: Optional[Path] = None,
                 user: Optional[str] = None):
        self.cells = list(cells)  # (exercise name, source), in the notebook's order
        self.memory_mb = int(memory_mb)
        self.user = user
        self.workdir = workdir
        self.process: Optional[subprocess.Popen] = None
        self.deadline: Optional[float] = None
        self.library_calls: List[str] = []
        self.failed: set = set()  # cells whose exercise killed or hung a worker: a new worker skips them

    # the process
    def _start(self) -> None:
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        limit = self.memory_mb * 2**20

        user = None
        if self.user:  # the student's code runs as that user, in a directory it owns
            import pwd
            try:
                entry = pwd.getpwnam(self.user)
            except KeyError:
                raise ValueError(f"user must be an account on this machine; got {self.user!r}") from None
            user = (entry.pw_uid, entry.pw_gid)
            os.chown(self.workdir, *user)

        def limits() -> None:  # in the child, before it runs anything
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if user is not None:
                os.setgroups([])
                os.setgid(user[1])
                os.setuid(user[0])

        home = str(self.workdir)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "TMPDIR": home,
               "PYTHONPATH": str(PACKAGE.parent), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
               "PYTHONDONTWRITEBYTECODE": "1", "LANG": os.environ.get("LANG", "C.UTF-8")}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tms_tutorial.grading", str(to_worker_r), str(from_worker_w)],
                cwd=home, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, pass_fds=(to_worker_r, from_worker_w), start_new_session=True,
                preexec_fn=limits)
        except OSError as exc:  # the grader's set-up, not the student's doing: no score is given
            for fd in (to_worker_r, to_worker_w, from_worker_r, from_worker_w):
                os.close(fd)
            who = f" as user {self.user}" if self.user else ""
            raise RuntimeError(f"cannot start the grading worker {sys.executable}{who}: {exc} (the account must "
                               "be able to run this Python and read the library)") from exc
        os.close(to_worker_r)
        os.close(from_worker_w)
        self._to, self._from = to_worker_w, from_worker_r

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for fd in (self._to, self._from):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.process = None

    def _request(self, message: dict) -> dict:
        try:
            _send(self._to, message, self.deadline)
            return _receive(self._from, self.deadline)
        except (BrokenPipeError, OSError) as exc:
            raise SubmissionFailed("died") from exc

    def load(self, name: str, deadline: float) -> Tuple[bool, str]:
        """Run the student's cells up to name's (in a fresh worker if needed); (ready, what went wrong)."""
        self.deadline = deadline
        if self.process is None:
            self._start()
            self._errors: List[Optional[dict]] = []
        index = next(k for k, (cell_name, _) in enumerate(self.cells) if cell_name == name)
        if index >= len(self._errors):  # the cells in between run too, as in the notebook
            todo = [k for k in range(len(self._errors), index + 1) if k not in self.failed or k == index]
            reply = self._request({"op": "run", "cells": [self.cells[k][1] for k in todo]})
            errors = reply.get("errors")
            if not isinstance(errors, list) or len(errors) != len(todo):
                raise SubmissionFailed("unreadable")
            by_cell = dict(zip(todo, errors))
            self._errors.extend(by_cell.get(k) for k in range(len(self._errors), index + 1))
        error = self._errors[index]
        if error is not None:
            error = error if isinstance(error, dict) else {}
            message = f": {error.get('message')}" if error.get("message") else ""
            return False, f"the exercise cell raised {error.get('type')}{message}"
        described = self._request({"op": "describe", "name": name})
        if not described.get("defined"):
            return False, f"the exercise cell defines no {name}"
        if not described.get("callable"):
            return False, f"{name} is a {described.get('type')}, not a function"
        return True, ""

    def function(self, name: str) -> Callable:
        """A stand-in for the student's function: each call runs it in the worker."""
        def call(*args):
            reply = self._request({"op": "call", "name": name, "args": encode(list(args))})
            for call_name in reply.get("library", []) if isinstance(reply.get("library"), list) else []:
                if isinstance(call_name, str) and call_name not in self.library_calls:
                    self.library_calls.append(call_name)
            if "error" in reply:
                error = reply["error"] if isinstance(reply["error"], dict) else {}
                kind, text = str(error.get("type", "Exception")), str(error.get("message", ""))
                cls = getattr(builtins, kind, None)
                if isinstance(cls, type) and issubclass(cls, Exception) and cls is not AssertionError:
                    try:
                        raise cls(text)
                    except TypeError:  # a builtin exception that wants other arguments
                        pass
                raise RuntimeError(f"{kind}: {text}")
            if "unsupported" in reply:
                raise TypeError(f"{name} returned {reply['unsupported']}, which is not a tensor, array or number")
            try:
                value = decode(reply["value"])
                states = [decode(g) for g in reply.get("generators", [])]
            except (KeyError, ValueError, TypeError, RuntimeError) as exc:
                raise SubmissionFailed("unreadable") from exc
            import torch
            mine = [a for a in args if isinstance(a, torch.Generator)]
            if len(states) == len(mine):  # the generators advance as if the call had been made here
                for generator, state in zip(mine, states):
                    if isinstance(state, torch.Generator):
                        generator.set_state(state.get_state())
            return value
        call.__name__ = name
        return call


def _first_line(exc: BaseException) -> str:
    message = _message(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def grade_cells(cells: Sequence[Tuple[str, str]], exercises: Sequence[str], timeout: float = 60.0,
                memory_mb: int = 4096, user: Optional[str] = None) -> Dict[str, Tuple[int, str]]:
    """Score each of exercises from the student's exercise cells [(name, source)]: {name: (points, message)}.

    An exercise without a cell scores 0 "missing". Each exercise gets its own deadline of
    timeout seconds (starting the worker included); a worker that dies or runs past it is
    replaced for the next exercise. memory_mb limits the worker's address space; user (a
    grader running as root, e.g. on Gradescope: "nobody") runs the student's code as
    that account, which cannot write the grader's files.
    """
    from .exercises import CHECKERS

    unknown = [name for name in exercises if name not in CHECKERS]
    if unknown:
        raise ValueError(f"exercises must be names in tms_tutorial.exercises.CHECKERS; got {unknown}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or memory_mb < 512:
        raise ValueError(f"memory_mb must be an integer of at least 512 (torch alone needs that); got {memory_mb!r}")
    present = [(name, source) for name, source in cells if name in exercises]
    scores: Dict[str, Tuple[int, str]] = {}
    with tempfile.TemporaryDirectory(prefix="tms-grade-") as workdir:
        submission = Submission(present, memory_mb=memory_mb, workdir=Path(workdir), user=user)
        try:
            for name in exercises:
                if name not in dict(present):
                    scores[name] = (0, "missing: no cell starting with '# EXERCISE: " + name + "'")
                    continue
                deadline = time.monotonic() + timeout
                submission.library_calls = []
                try:
                    ready, why = submission.load(name, deadline)
                    if not ready:
                        scores[name] = (0, why)
                        continue
                    try:
                        with contextlib.redirect_stdout(io.StringIO()):
                            CHECKERS[name](submission.function(name))
                        scores[name] = (1, "passed")
                    except Exception as exc:  # the checker's verdict, or an error of the student's function
                        scores[name] = (0, _first_line(exc))
                    if submission.library_calls:  # whatever the checker said
                        scores[name] = (0, f"calls the library's own {submission.library_calls[0]}: "
                                           "write the exercise yourself")
                except SubmissionFailed as exc:
                    submission.stop()
                    submission.failed.add(next(k for k, (n, _) in enumerate(present) if n == name))
                    reason = str(exc)
                    if reason == "timeout":
                        scores[name] = (0, f"timed out after {timeout:g} s")
                    elif reason == "died":
                        scores[name] = (0, "the exercise's process died (out of memory, or it exited)")
                    else:
                        scores[name] = (0, "the exercise's process sent something the grader cannot read")
        finally:
            submission.stop()
    return scores


if __name__ == "__main__":
    worker(int(sys.argv[1]), int(sys.argv[2]))
