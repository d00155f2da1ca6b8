"""`-dry-run` prints entries exactly as Promtail does (plus structured metadata as a fourth field)."""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from agent.client.batch import quote as go_quote
from agent.client.stdout import StdoutClient, format_entry, format_labels
from agent.model import Checkpoint, LogEntry, untracked_checkpoint


@pytest.fixture
def utc() -> Iterator[None]:
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if previous is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = previous
    time.tzset()


class TestFormat:
    @pytest.mark.usefixtures("utc")
    def test_promtail_line(self) -> None:
        """Timestamp with trailing zeros dropped, sorted labels, then the line, tab-separated."""
        entry = LogEntry(1_700_000_000_120_000_000, "hello", {"job": "x", "a": "b"}, Checkpoint(0, 1, print))
        assert format_entry(entry) == '2023-11-14T22:13:20.12+0000\t{a="b", job="x"}\thello'

    @pytest.mark.usefixtures("utc")
    def test_whole_second_has_no_fraction(self) -> None:
        """A timestamp on a whole second prints no fractional part, as Go's .999999999 does."""
        entry = LogEntry(1_700_000_000_000_000_000, "x", {"a": "b"}, Checkpoint(0, 1, print))
        assert format_entry(entry).startswith("2023-11-14T22:13:20+0000\t")

    @pytest.mark.usefixtures("utc")
    def test_structured_metadata_fourth_field(self) -> None:
        """Structured metadata follows the line as {k="v"}."""
        entry = LogEntry(
            1_700_000_000_000_000_000, "x", {"a": "b"}, Checkpoint(0, 1, print), metadata={"trace": "1"}
        )
        assert format_entry(entry).split("\t")[3] == '{trace="1"}'

    @pytest.mark.parametrize(
        ("value", "quoted"),
        [
            pytest.param("plain", '"plain"', id="plain"),
            pytest.param('say "hi"', '"say \\"hi\\""', id="quotes"),
            pytest.param("a\\b", '"a\\\\b"', id="backslash"),
            pytest.param("tab\there\n", '"tab\\there\\n"', id="controls"),
            pytest.param("\x01", '"\\x01"', id="low-control"),
            pytest.param("héllo ☃", '"héllo ☃"', id="printable-unicode"),
        ],
    )
    def test_go_quote(self, value: str, quoted: str) -> None:
        """Label values are quoted as Go's strconv.Quote quotes them."""
        assert go_quote(value) == quoted

    def test_internal_labels_hidden(self) -> None:
        """Labels starting with __ are not shown (Loki never receives them)."""
        assert format_labels({"__tenant_id__": "t", "job": "x"}) == '{job="x"}'


class TestStdoutClient:
    @pytest.mark.asyncio
    async def test_prints_and_acknowledges(self) -> None:
        """Printed entries are acknowledged, so their checkpoint completes."""
        done: list[int] = []
        checkpoint = Checkpoint(7, 2, lambda c: done.append(c.position))
        out = io.StringIO()
        client = StdoutClient(out)
        task = asyncio.create_task(client.run())
        await client.queue.put(
            [LogEntry(1, "a", {"j": "x"}, checkpoint), LogEntry(2, "b", {"j": "x"}, checkpoint)]
        )
        await client.stop(timeout=5)
        await asyncio.wait_for(task, 5)
        assert [line.split("\t")[2] for line in out.getvalue().splitlines()] == ["a", "b"]
        assert done == [7]

    @pytest.mark.asyncio
    async def test_prints_the_chunk_it_is_writing_when_stopped(self) -> None:
        """A chunk taken off the queue but not yet written is still printed by the time `stop()` returns."""
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        release = threading.Event()
        busy = loop.run_in_executor(None, release.wait)  # the only worker is busy: the write waits in line
        stream = io.StringIO()
        client = StdoutClient(stream)
        task = asyncio.create_task(client.run())
        try:
            await client.queue.put([LogEntry(1, "last line", {"job": "app"}, untracked_checkpoint())])
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert client.queue.empty()  # run() has taken the chunk and waits for the executor to write it
            loop.call_later(0.2, release.set)
            await client.stop(timeout=5)
        finally:
            task.cancel()  # as Agent._shutdown does once the clients are stopped
            await asyncio.gather(task, return_exceptions=True)
            release.set()
            await busy
        assert stream.getvalue().endswith('\t{job="app"}\tlast line\n')
