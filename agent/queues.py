"""The only place that makes queues. Every queue is bounded: its size is a required argument.

Queues carry chunks (``list[LogEntry]``), so a queue of size 4 holds at most four chunks. When a consumer is
slow, producers wait in `put`: a file source then simply stops reading, because the file is the buffer.
Dropping instead of waiting is an explicit, counted choice made by the caller, never by the queue.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


def bounded_queue(maxsize: int) -> asyncio.Queue[T]:
    """Return an `asyncio.Queue` that holds at most `maxsize` items (chunks, batches), never unbounded."""
    if maxsize <= 0:
        raise ValueError(f"queue size must be positive, got {maxsize}")
    return asyncio.Queue(maxsize)
