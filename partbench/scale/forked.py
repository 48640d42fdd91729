"""Scoring on every core of one machine: the process group of `partbench.scale.parallel`, made by forking.

Re-scoring saved predictions is decoding PNGs and counting pixels, CPU work that one Python process does on one
core. `run_forked` forks copies of the process once the data index and fingerprints are built (nothing is loaded
twice), runs the same per-process body in each as a `torchrun` launch would, and gathers the per-sample rows to
rank 0 through pipes. Rows are combined in suite order, so results are identical to a single process.

A failure in a child (an unreadable prediction, a label out of range) reaches the parent as the same error; a child
never prints. Fork is only used where it is the platform's default start method (Linux), never under `torchrun`.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from partbench.errors import PartbenchError
from partbench.scale.parallel import ProcessGroup

T = TypeVar("T")
MAX_PROCESSES = 8
# Below this many samples per process, forking costs more than it saves (a fork and a pipe are ~10 ms).
MIN_SAMPLES_PER_PROCESS = 64
REPORT_EVERY = 16  # samples a child finishes between two progress reports to the parent's bar


@dataclass
class _ChildFailure:
    """What a child sends instead of its rows when it fails: the error, as the parent will raise it."""

    message: str  # a PartbenchError's message (bad input), or the child's traceback (a bug)
    kind: str  # "input", "interrupt" (Ctrl-C reaches every process of the terminal) or "bug"

    @classmethod
    def of(cls, error: BaseException) -> _ChildFailure:
        if isinstance(error, PartbenchError):
            return cls(str(error), "input")
        if isinstance(error, KeyboardInterrupt):
            return cls("", "interrupt")
        return cls("".join(traceback.format_exception(error)), "bug")


@dataclass
class _Progress:
    """Samples a child finished since its last report (the parent's progress bar counts them)."""

    done: int


_ENDED = object()  # a child's pipe closed before its rows came: killed (out of memory, a signal)


@dataclass
class ForkedGroup(ProcessGroup):
    """A `ProcessGroup` of forked copies of this process: rank 0 is the parent; `gather` goes through pipes, and the
    children's progress reports come through the same pipes before their rows."""

    _to_parent: Any = None  # a child's end of its pipe
    _from_children: list[Any] = field(default_factory=list)  # the parent's ends, in rank order
    _final: dict[int, Any] = field(default_factory=dict)  # rank -> what it sent after its reports (rows or failure)
    _unsent: int = 0  # a child's finished samples not reported yet

    def report_progress(self, done: int) -> None:
        if self.is_main:
            return
        self._unsent += done
        if self._unsent >= REPORT_EVERY:
            self._flush_progress()

    def _flush_progress(self) -> None:
        if self._unsent:
            self._to_parent.send(_Progress(self._unsent))
            self._unsent = 0

    @property
    def sees_others_progress(self) -> bool:
        return self.is_main

    def progress_of_others(self, block: bool = False) -> tuple[int, bool]:
        if not self.is_main:
            return 0, True
        from multiprocessing.connection import wait

        open_ = {conn: rank for rank, conn in enumerate(self._from_children, start=1) if rank not in self._final}
        if block and open_:
            wait(list(open_))
        done = 0
        for conn, rank in open_.items():
            while rank not in self._final and conn.poll():
                got = self._receive(conn)
                if isinstance(got, _Progress):
                    done += got.done
                else:
                    self._final[rank] = got
        return done, len(self._final) == len(self._from_children)

    @staticmethod
    def _receive(conn: Any) -> Any:
        try:
            return conn.recv()
        except EOFError:
            return _ENDED

    def gather(self, obj: Any) -> list[Any] | None:
        if not self.is_main:
            self._flush_progress()
            self._to_parent.send(obj)
            return None
        out = [obj]
        for rank, conn in enumerate(self._from_children, start=1):
            got = self._final.get(rank)
            while got is None or isinstance(got, _Progress):
                got = self._receive(conn)
            if got is _ENDED:
                raise PartbenchError(f"scoring process {rank} of {self.world_size} ended without its results "
                                     "(killed?); run again, or with --processes 1.")
            if isinstance(got, _ChildFailure):
                if got.kind == "interrupt":
                    raise KeyboardInterrupt
                if got.kind == "input":
                    raise PartbenchError(got.message)
                raise RuntimeError(f"scoring process {rank} of {self.world_size} failed:\n{got.message}")
            out.append(got)
        return out

    def barrier(self) -> None:
        """Nothing to wait for: ranks only meet in `gather`."""

    def close(self) -> None:
        """Children exit on their own; the parent's `run_forked` reaps them."""


def processes_for(requested: int | None, n_samples: int) -> int:
    """How many processes to score `n_samples` with: `requested`, or by default one per usable core (at most
    `MAX_PROCESSES`) while each gets at least `MIN_SAMPLES_PER_PROCESS`; 1 where fork is not the safe default
    or a `torchrun` launch already splits the work."""
    if requested is not None:
        return requested if fork_available() else 1
    if not fork_available():
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_PROCESSES, n_samples // MIN_SAMPLES_PER_PROCESS))


def fork_available() -> bool:
    return sys.platform.startswith("linux") and int(os.environ.get("WORLD_SIZE", "1")) <= 1


def run_forked(world_size: int, body: Callable[[ProcessGroup], T]) -> T | None:
    """`body(group)` in this process (rank 0, whose result is returned) and in `world_size - 1` forked children
    (whose results are dropped: they reach rank 0 through `group.gather`)."""
    if world_size <= 1:
        return body(ProcessGroup())
    context = multiprocessing.get_context("fork")
    children, pipes = [], []
    # Objects that exist now are left out of the children's garbage collections, which would otherwise touch (and
    # so copy) every page of the parent's heap.
    gc.freeze()
    try:
        for rank in range(1, world_size):
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=_child, args=(body, ForkedGroup(rank, world_size, _to_parent=send)),
                                    name=f"partbench-score-{rank}", daemon=True)
            child.start()
            send.close()  # the parent keeps only its reading end: a child's death then reads as end of file
            children.append(child)
            pipes.append(receive)
        gc.unfreeze()
        return body(ForkedGroup(0, world_size, _from_children=pipes))
    finally:
        gc.unfreeze()
        for child in children:
            if child.is_alive():
                child.terminate()  # the parent failed before gathering: the children's work is not wanted
            child.join()
        for conn in pipes:
            conn.close()


def _child(body: Callable[[ProcessGroup], Any], group: ForkedGroup) -> None:
    """A child's whole life: the body, or its failure sent to the parent in place of the rows."""
    try:
        body(group)
    except BaseException as e:  # noqa: BLE001 -- every failure, interrupts included, is the parent's to report
        try:
            group._to_parent.send(_ChildFailure.of(e))
        except OSError:  # the parent is gone
            pass
    finally:
        group._to_parent.close()
