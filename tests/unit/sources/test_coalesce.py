"""`ChunkCoalescer`: small chunks merged within the delay, order kept, bounded, backpressure kept."""

from __future__ import annotations

import asyncio

import pytest

from agent.model import LogEntry, untracked_checkpoint
from agent.queues import bounded_queue
from agent.sources.coalesce import ChunkCoalescer

pytestmark = pytest.mark.asyncio


def chunk(*numbers: int) -> list[LogEntry]:
    checkpoint = untracked_checkpoint()
    return [LogEntry(n, str(n), {}, checkpoint) for n in numbers]


async def test_chunks_arriving_together_leave_as_one_in_order() -> None:
    queue: asyncio.Queue[list[LogEntry]] = bounded_queue(4)
    coalescer = ChunkCoalescer(queue, delay=0.05)
    task = asyncio.create_task(coalescer.run())
    for n in range(10):
        await coalescer.put(chunk(n))
    merged = await asyncio.wait_for(queue.get(), 5)
    task.cancel()
    assert [e.line for e in merged] == [str(n) for n in range(10)]
    assert queue.empty()


async def test_a_full_coalescer_does_not_wait_and_producers_wait_for_the_queue() -> None:
    queue: asyncio.Queue[list[LogEntry]] = bounded_queue(1)
    coalescer = ChunkCoalescer(queue, delay=3600, max_entries=3)  # only a full coalescer hands on
    task = asyncio.create_task(coalescer.run())
    await coalescer.put(chunk(1, 2, 3))
    first = await asyncio.wait_for(queue.get(), 5)  # handed on at once, not after an hour
    await coalescer.put(chunk(4, 5, 6))
    second = await asyncio.wait_for(queue.get(), 5)
    await queue.put(chunk(0))  # the queue is full from now on
    await coalescer.put(chunk(7, 8, 9))
    for _ in range(5):
        await asyncio.sleep(0)  # let the coalescer take 7-9 and block on the full queue
    await coalescer.put(chunk(10, 11, 12))  # waits in the coalescer
    blocked = asyncio.create_task(coalescer.put(chunk(13)))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not blocked.done()  # bounded: the producer waits
    assert [e.line for e in await queue.get()] == ["0"]
    assert [e.line for e in await asyncio.wait_for(queue.get(), 5)] == ["7", "8", "9"]
    await asyncio.wait_for(blocked, 5)
    task.cancel()
    assert [e.line for e in first] == ["1", "2", "3"]
    assert [e.line for e in second] == ["4", "5", "6"]
