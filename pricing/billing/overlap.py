"""Loops of a streamed run that overlap their steps, in bounded memory.

Arrow's parsing, sorting and compute kernels and numpy's large operations release the GIL, so
two threads make progress together. Both helpers keep the order of their items and hold at
most one or two more of them than a plain loop, so memory still follows the piece size; an
error raised making an item is raised where the item would have been taken.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ahead(items: Iterable[T]) -> Iterator[T]:
    """``items`` in order, each next one made in a second thread while the caller works on
    the current one."""
    done = object()
    source = iter(items)
    with ThreadPoolExecutor(max_workers=1) as pool:
        coming = pool.submit(next, source, done)
        while (item := coming.result()) is not done:
            coming = pool.submit(next, source, done)
            yield item  # type: ignore[misc]


def mapped(function: Callable[[T], R], items: Iterable[T], workers: int = 2) -> Iterator[R]:
    """``map(function, items)`` with up to ``workers`` calls at once, results in order; the
    items are taken only as calls can start (never all at once, as ``Executor.map`` does)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running: deque[Future[R]] = deque()
        for item in items:
            running.append(pool.submit(function, item))
            if len(running) >= workers:
                yield running.popleft().result()
        while running:
            yield running.popleft().result()
