"""Splitting a run over processes and jobs, and combining what they computed.

Two ways to split, which compose:
- a process group started by `torchrun` / `accelerate launch` (env RANK, WORLD_SIZE, LOCAL_RANK): each process takes
  samples `rank::world_size`; per-sample metric rows are gathered to rank 0 with `torch.distributed` (gloo on CPU,
  NCCL on GPU, objects always through a gloo group) and rank 0 writes the results;
- independent jobs, `--shard K/N` (K in 0..N-1: Slurm array ids, several machines without a process group): each job
  takes samples `K::N` and writes its rows to `shards/`; `partbench merge` combines them.

Metric state is per-sample confusion entries, and results are computed from them in suite order, so every way of
splitting gives results identical to a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from partbench.errors import PartbenchError


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        """`K/N` with 0 <= K < N; None means the whole split."""
        if not text:
            return cls(0, 1)
        k, sep, n = text.partition("/")
        try:
            shard = cls(int(k), int(n))
        except ValueError:
            shard = None
        if not sep or shard is None or shard.count < 1 or not 0 <= shard.index < shard.count:
            raise PartbenchError(f"--shard expects K/N with 0 <= K < N (e.g. 0/4 ... 3/4), got {text!r}.")
        return shard

    @property
    def label(self) -> str:
        return f"{self.index}-of-{self.count}"


@dataclass
class ProcessGroup:
    """This process's place in a `torchrun`/`accelerate` launch; a single process when none is set up."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    _objects_group: Any = None

    @classmethod
    def from_env(cls) -> ProcessGroup:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        import torch
        import torch.distributed as dist

        group = cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
        if torch.cuda.is_available():
            torch.cuda.set_device(group.local_rank)  # one device per process, from LOCAL_RANK
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        # Python objects (per-sample rows) travel over gloo even when tensors use NCCL.
        group._objects_group = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else None
        return group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's `obj`, in rank order, on rank 0 (None elsewhere); `[obj]` without a process group."""
        if not self.distributed:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0, group=self._objects_group)
        return out

    @property
    def sees_others_progress(self) -> bool:
        """Whether this rank hears how far the others are (`progress_of_others`): rank 0 of a forked group."""
        return False

    def report_progress(self, done: int) -> None:
        """Tell rank 0 that this rank finished `done` more samples; only a forked group carries it there."""

    def progress_of_others(self, block: bool = False) -> tuple[int, bool]:
        """Where `sees_others_progress`: (samples the other ranks finished since the last call, whether all of them
        are done); with `block`, waits for at least one report unless all are done."""
        return 0, True

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier(group=self._objects_group)

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def my_positions(n: int, shard: Shard, group: ProcessGroup, batch_size: int = 1) -> list[int]:
    """Positions (in suite order) this process handles.

    The split is made of whole batches of `batch_size` consecutive positions: batch b goes to shard `b % N`, and
    within a shard to rank `(b // N) % world_size`. A batch therefore holds the same samples however the run is
    launched, so methods whose numerics depend on batch composition (batched neural networks) give the same outputs
    with 1 process, N processes or N shards.
    """
    batches = range(0, n, max(batch_size, 1))
    step = shard.count * group.world_size
    mine = batches[shard.index + shard.count * group.rank::step]
    return [p for start in mine for p in range(start, min(start + batch_size, n))]


def default_device() -> str:
    """`cuda:<LOCAL_RANK>` when a GPU is visible, else `cpu`: `partbench.devices.select_device("auto")`."""
    from partbench.devices import select_device

    return select_device("auto")
