"""Decode samples in a thread pool ahead of the consumer, in order, with bounded look-ahead.

PNG and JPEG decoding release the GIL inside Pillow, so threads overlap I/O and decoding with inference (or with
scoring) without the pickling and start-up cost of worker processes. Look-ahead is bounded, so memory holds at most
`depth` decoded samples whatever the split size.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def prefetch(items: Iterable[T], load: Callable[[T], R], workers: int = 2, depth: int = 8) -> Iterator[R]:
    """`map(load, items)` computed by `workers` threads up to `depth` items ahead; `workers=0` loads inline.

    An exception raised by `load` surfaces when its item is reached, so everything before it is consumed normally.
    """
    if workers <= 0:
        yield from map(load, items)
        return
    iterator = iter(items)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="partbench-load") as pool:
        pending = deque(pool.submit(load, item) for _, item in zip(range(max(depth, 1)), iterator))
        try:
            while pending:
                future = pending.popleft()
                for item in iterator:
                    pending.append(pool.submit(load, item))
                    break
                yield future.result()
        finally:
            for future in pending:
                future.cancel()
