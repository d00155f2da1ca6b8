"""`-stdin`: every non-empty line of standard input becomes an entry, the last one too."""

from __future__ import annotations

import asyncio
import io

import pytest

from agent.model import Chunk
from agent.queues import bounded_queue
from agent.sources.stdin import StdinSource


async def _read_all(data: bytes) -> list[tuple[int, str]]:
    queue: asyncio.Queue[Chunk | None] = bounded_queue(64)
    await StdinSource(queue, {"job": "stdin"}, io.BytesIO(data)).run()
    entries = []
    while not queue.empty():
        chunk = queue.get_nowait()
        assert chunk is not None
        entries += [(e.timestamp, e.line) for e in chunk]
    return entries


class TestStdinSource:
    @pytest.mark.asyncio
    async def test_lines_trimmed_and_blank_lines_skipped(self) -> None:
        """CR/LF endings are trimmed and empty lines produce no entry."""
        entries = await _read_all(b"one\r\n\ntwo\n  \nthree")
        assert [line for _, line in entries] == ["one", "two", "  ", "three"]

    @pytest.mark.asyncio
    async def test_last_line_without_newline_is_kept(self) -> None:
        """The final line is shipped even when input ends without a newline."""
        assert [line for _, line in await _read_all(b"only line")] == ["only line"]

    @pytest.mark.asyncio
    async def test_timestamps_strictly_increase(self) -> None:
        """Equal lines get distinct timestamps, so Loki does not deduplicate them."""
        entries = await _read_all(b"same\nsame\nsame\n")
        stamps = [ts for ts, _ in entries]
        assert stamps == sorted(set(stamps))

    @pytest.mark.asyncio
    async def test_invalid_utf8_replaced(self) -> None:
        """Bytes that are not UTF-8 are replaced instead of stopping the input."""
        assert [line for _, line in await _read_all(b"caf\xe9\n")] == ["caf\ufffd"]
