"""FileTail: one real file read into chunks: lines, encodings, limits, compressed files, ends."""

from __future__ import annotations

import asyncio
import bz2
import codecs
import gzip
import itertools
from pathlib import Path

import pytest

from agent.model import Chunk, LineRun
from agent.positions.config import PositionsConfig
from agent.positions.store import PositionStore
from agent.positions.tracker import FileIdentity
from agent.queues import bounded_queue
from agent.server.metrics import Metrics
from agent.sources import fileio
from agent.sources import tail as tail_module
from agent.sources.ratelimit import ReadlineLimiter
from agent.sources.tail import FileTail, LineDecoder, TailEnd, TailOptions
from support.files import Consumer, Running

FAST = TailOptions(min_poll=0.01, max_poll=0.02, rotate_wait=0.05)


class Harness:
    """A store, a queue and a consumer around tails of files in `tmp_path`."""

    def __init__(self, tmp_path: Path) -> None:
        self.metrics = Metrics()
        self.store = PositionStore(PositionsConfig(filename=str(tmp_path / "positions.yaml")), self.metrics)
        self.store.load()
        self.chunks: asyncio.Queue[Chunk | None] = bounded_queue(4)
        self.consumer = Consumer(self.chunks)

    async def tail(self, path: Path, options: TailOptions = FAST, offset: int = 0, **kw: object) -> FileTail:
        opened = await fileio.open_file(str(path))
        identity = FileIdentity.of(opened.stat.device, opened.stat.inode, opened.head)
        tracker = self.store.track(self.store.new_record(str(path), identity, offset), fanout=1,
                                   count_bytes=not options.compression)
        return FileTail(str(path), opened, tracker, {"job": "test"}, self.chunks, options, self.metrics,
                        **kw)  # type: ignore[arg-type]

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


class TestLines:
    @pytest.mark.asyncio
    async def test_reads_existing_then_appended_lines(self, tmp_path: Path, harness: Harness) -> None:
        """Lines present at start and lines appended later all arrive, in order."""
        path = tmp_path / "app.log"
        path.write_bytes(b"one\ntwo\n")
        tail = await harness.tail(path)
        async with Running(tail.run(), harness.consumer.run()) as running:
            await running.wait(lambda: len(harness.consumer.lines) == 2)
            with path.open("ab") as handle:
                handle.write(b"three\n")
            tail.wake()
            await running.wait(lambda: len(harness.consumer.lines) == 3)
        assert harness.consumer.lines == ["one", "two", "three"]
        assert tail.tracker.acked_offset == len(b"one\ntwo\nthree\n")
        assert harness.sample("promtail_read_lines_total", path=str(path)) == 3
        assert harness.sample("promtail_read_bytes_total", path=str(path)) == 14

    @pytest.mark.asyncio
    async def test_partial_line_waits_for_its_newline(self, tmp_path: Path, harness: Harness) -> None:
        """A line without its newline is not sent, nor covered by the position, until the newline comes."""
        path = tmp_path / "app.log"
        path.write_bytes(b"done\nhalf a li")
        tail = await harness.tail(path)
        async with Running(tail.run(), harness.consumer.run()) as running:
            await running.wait(lambda: harness.consumer.lines == ["done"])
            await running.wait(lambda: tail.tracker.acked_offset == 5)
            with path.open("ab") as handle:
                handle.write(b"ne\n")
            await running.wait(lambda: len(harness.consumer.lines) == 2)
        assert harness.consumer.lines == ["done", "half a line"]

    @pytest.mark.asyncio
    async def test_crlf_is_trimmed(self, tmp_path: Path, harness: Harness) -> None:
        """Windows line endings lose their carriage return."""
        path = tmp_path / "app.log"
        path.write_bytes(b"one\r\ntwo\r\n\r\n")
        tail = await harness.tail(path)
        async with Running(tail.run(), harness.consumer.run()) as running:
            await running.wait(lambda: len(harness.consumer.lines) == 3)
        assert harness.consumer.lines == ["one", "two", ""]

    @pytest.mark.asyncio
    async def test_invalid_utf8_is_replaced(self, tmp_path: Path, harness: Harness) -> None:
        """Bytes that are not UTF-8 become U+FFFD; the file keeps being read."""
        path = tmp_path / "app.log"
        path.write_bytes(b"ok \xff\xfe here\nnext\n")
        tail = await harness.tail(path)
        async with Running(tail.run(), harness.consumer.run()) as running:
            await running.wait(lambda: len(harness.consumer.lines) == 2)
        assert harness.consumer.lines == ["ok \ufffd\ufffd here", "next"]

    @pytest.mark.asyncio
    async def test_timestamps_strictly_increase(self, tmp_path: Path, harness: Harness) -> None:
        """Every entry of a file has a later timestamp than the one before, across chunks too."""
        path = tmp_path / "app.log"
        path.write_bytes(b"same\n" * 500)
        tail = await harness.tail(path, TailOptions(min_poll=0.01, max_poll=0.02, read_size=100))
        async with Running(tail.run(), harness.consumer.run()) as running:
            await running.wait(lambda: len(harness.consumer.lines) == 500)
        stamps = [entry.timestamp for chunk in harness.consumer.chunks for entry in chunk]
        assert len(harness.consumer.chunks) > 1
        assert all(later > earlier for earlier, later in itertools.pairwise(stamps))

    @pytest.mark.asyncio
    async def test_entries_share_one_labels_dict(self, tmp_path: Path, harness: Harness) -> None:
        """All entries of a file carry the same labels object (the client computes the stream once)."""
        path = tmp_path / "app.log"
        path.write_bytes(b"a\nb\n")
        tail = await harness.tail(path)
        async with Running(tail.run(), harness.consumer.run()) as running:
            await running.wait(lambda: len(harness.consumer.lines) == 2)
        first, second = harness.consumer.chunks[0]
        assert first.labels is second.labels is tail.labels

    @pytest.mark.asyncio
    async def test_chunks_say_what_the_tail_knows(self, tmp_path: Path, harness: Harness) -> None:
        """Each chunk is a `LineRun` with the file's labels and, for ASCII text, its lines' total size."""
        path = tmp_path / "app.log"
        path.write_bytes(b"one\r\ntwo\n\n")
        tail = await harness.tail(path)
        async with Running(tail.run(), harness.consumer.run()) as running:
            await running.wait(lambda: len(harness.consumer.lines) == 3)
            with path.open("ab") as handle:
                handle.write("ünï\n".encode())
            tail.wake()
            await running.wait(lambda: len(harness.consumer.lines) == 4)
        ascii_chunk, other = harness.consumer.chunks
        assert isinstance(ascii_chunk, LineRun)
        assert isinstance(other, LineRun)
        assert ascii_chunk.labels is tail.labels
        assert (ascii_chunk.size, other.size) == (len("one") + len("two"), -1)

    @pytest.mark.parametrize(
        ("block", "size"),
        [
            pytest.param(b"a\nbc\n", 3, id="ascii"),
            pytest.param(b"a\r\n\r\nb\n", 2, id="crlf-and-empty"),
            pytest.param("é\n".encode(), -1, id="not-ascii"),
            pytest.param(b"\xff\n", -1, id="invalid-utf8"),
        ],
    )
    def test_split_knows_the_size_of_ascii_text(self, block: bytes, size: int) -> None:
        """`split` gives the lines' total size (newlines and CRs not counted) when the text is ASCII."""
        decoder = LineDecoder("", b"")
        assert decoder.split(block) == (decoder.lines(block), size)


class TestEncodings:
    @pytest.mark.parametrize(
        ("raw", "encoding", "expected"),
        [
            pytest.param(codecs.BOM_UTF16_LE + "héllo\nwörld\n".encode("utf-16-le"), "", ["héllo", "wörld"],
                         id="utf16le-bom"),
            pytest.param(codecs.BOM_UTF16_BE + "\u6100\u0a62\nb\n".encode("utf-16-be"), "", ["\u6100\u0a62", "b"],
                         id="utf16be-bom-newline-bytes-across-chars"),
            pytest.param(codecs.BOM_UTF8 + "ünï\n".encode(), "", ["ünï"], id="utf8-bom"),
            pytest.param("café\n".encode("latin-1"), "ISO-8859-1", ["café"], id="latin1-option"),
            pytest.param("x\r\ny\r\n".encode("utf-16-le"), "UTF-16LE", ["x", "y"], id="utf16le-option-crlf"),
        ],
    )
    @pytest.mark.asyncio
    async def test_decodes_before_splitting(
        self, tmp_path: Path, harness: Harness, raw: bytes, encoding: str, expected: list[str]
    ) -> None:
        """Files in other encodings arrive as the right text, BOM removed."""
        path = tmp_path / "app.log"
        path.write_bytes(raw)
        tail = await harness.tail(path, TailOptions(encoding=encoding, min_poll=0.01, max_poll=0.02))
        async with Running(tail.run(), harness.consumer.run()) as running:
            await running.wait(lambda: len(harness.consumer.lines) == len(expected))
            await running.wait(lambda: tail.tracker.acked_offset == len(raw))
        assert harness.consumer.lines == expected

    def test_utf16_line_end_is_found_on_a_code_unit_boundary(self) -> None:
        """A 0x0A 0x00 pair straddling two UTF-16 characters is not taken for a newline."""
        decoder = LineDecoder("UTF-16LE", b"")
        data = "\u0a00\u000a".encode("utf-16-le")[:3]  # b"\x00\x0a\x0a" - newline bytes at an odd offset
        assert decoder.complete(data) == 0
        assert decoder.complete("a\nb".encode("utf-16-le")) == 4


class TestLimits:
    @pytest.mark.asyncio
    async def test_long_line_is_truncated_and_counted(self, tmp_path: Path, harness: Harness) -> None:
        """With max_line_size_truncate a long line is cut to the limit; later lines are untouched."""
        path = tmp_path / "app.log"
        path.write_bytes(b"x" * 100 + b"\nshort\n")
        options = TailOptions(max_line_size=10, max_line_size_truncate=True, min_poll=0.01, max_poll=0.02)
        tail = await harness.tail(path, options)
        async with Running(tail.run(), harness.consumer.run()) as running:
            await running.wait(lambda: len(harness.consumer.lines) == 2)
        assert harness.consumer.lines == ["x" * 10, "short"]
        labels = {"host": "", "reason": "line_too_long", "tenant": ""}
        assert harness.sample("promtail_mutated_entries_total", **labels) == 1
        assert harness.sample("promtail_mutated_bytes_total", **labels) == 90

    @pytest.mark.asyncio
    async def test_truncation_never_splits_a_character(self, tmp_path: Path, harness: Harness) -> None:
        """A limit that falls inside a multi-byte character cuts before it."""
        path = tmp_path / "app.log"
        path.write_bytes("ab€€€€€€€€€€€€€€€€€€€€€€€€\n".encode())
        options = TailOptions(max_line_size=4, max_line_size_truncate=True, min_poll=0.01, max_poll=0.02)
        tail = await harness.tail(path, options)
        async with Running(tail.run(), harness.consumer.run()) as running:
            await running.wait(lambda: len(harness.consumer.lines) == 1)
        assert harness.consumer.lines == ["ab"]

    @pytest.mark.asyncio
    async def test_long_line_is_dropped_and_the_file_continues(self, tmp_path: Path, harness: Harness) -> None:
        """Without truncation a long line is dropped and counted; the position still moves past it."""
        path = tmp_path / "app.log"
        data = b"before\n" + b"y" * 100 + b"\nafter\n"
        path.write_bytes(data)
        tail = await harness.tail(path, TailOptions(max_line_size=10, min_poll=0.01, max_poll=0.02))
        async with Running(tail.run(), harness.consumer.run()) as running:
            await running.wait(lambda: len(harness.consumer.lines) == 2)
            await running.wait(lambda: tail.tracker.acked_offset == len(data))
        assert harness.consumer.lines == ["before", "after"]
        labels = {"host": "", "reason": "line_too_long", "tenant": ""}
        assert harness.sample("promtail_dropped_entries_total", **labels) == 1
        assert harness.sample("promtail_dropped_bytes_total", **labels) == 100

    @pytest.mark.asyncio
    async def test_endless_line_is_sent_in_parts(
        self, tmp_path: Path, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A line that never ends is cut at the buffer cap instead of growing memory; the cut is counted."""
        monkeypatch.setattr(tail_module, "MAX_PENDING_LINE", 100)
        path = tmp_path / "app.log"
        path.write_bytes(b"z" * 250 + b"\nnext\n")
        tail = await harness.tail(path, TailOptions(min_poll=0.01, max_poll=0.02, read_size=100))
        async with Running(tail.run(), harness.consumer.run()) as running:
            await running.wait(lambda: harness.consumer.lines[-1:] == ["next"])
        assert "".join(harness.consumer.lines[:-1]) == "z" * 250
        assert harness.sample("agent_errors_total", component="file", reason="line_split") >= 2

    @pytest.mark.asyncio
    async def test_endless_line_over_the_limit_is_dropped_whole(
        self, tmp_path: Path, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With max_line_size, a line too long to buffer is dropped once and skipped up to its newline."""
        monkeypatch.setattr(tail_module, "MAX_PENDING_LINE", 100)
        path = tmp_path / "app.log"
        data = b"z" * 250 + b"\nnext\n"
        path.write_bytes(data)
        options = TailOptions(max_line_size=10, min_poll=0.01, max_poll=0.02, read_size=100)
        tail = await harness.tail(path, options)
        async with Running(tail.run(), harness.consumer.run()) as running:
            await running.wait(lambda: tail.tracker.acked_offset == len(data))
        assert harness.consumer.lines == ["next"]
        labels = {"host": "", "reason": "line_too_long", "tenant": ""}
        assert harness.sample("promtail_dropped_entries_total", **labels) == 1

    @pytest.mark.asyncio
    async def test_readline_rate_drop(self, tmp_path: Path, harness: Harness) -> None:
        """Over the readline budget with readline_rate_drop, lines are dropped and counted as Promtail does."""
        path = tmp_path / "app.log"
        path.write_bytes(b"".join(b"%d\n" % n for n in range(10)))
        limiter = ReadlineLimiter(0.001, 4, drop=True)
        tail = await harness.tail(path, limiter=limiter)
        async with Running(tail.run(), harness.consumer.run()) as running:
            await running.wait(lambda: tail.tracker.acked_offset == 20)
        assert harness.consumer.lines == ["0", "1", "2", "3"]
        assert harness.sample("logentry_dropped_lines_total", reason="global_rate_limiter_drop") == 6


class TestCompressed:
    @pytest.mark.parametrize(("fmt", "opener"), [("gz", gzip.open), ("bz2", bz2.open)])
    @pytest.mark.asyncio
    async def test_reads_whole_file_and_counts_lines(
        self, tmp_path: Path, harness: Harness, fmt: str, opener: object
    ) -> None:
        """A compressed file is read once to its end; its position is a line count, as Promtail's."""
        path = tmp_path / f"app.log.{fmt}"
        with opener(path, "wb") as handle:  # type: ignore[operator]
            handle.write(b"".join(b"line %d\n" % n for n in range(1000)) + b"last without newline")
        tail = await harness.tail(path, TailOptions(compression=fmt, read_size=4096))
        async with Running(harness.consumer.run()):
            assert await tail.run() is TailEnd.KEEP
        assert len(harness.consumer.lines) == 1001
        assert harness.consumer.lines[-1] == "last without newline"
        assert tail.tracker.acked_offset == 1001

    @pytest.mark.asyncio
    async def test_resumes_after_the_saved_line_count(self, tmp_path: Path, harness: Harness) -> None:
        """A compressed file with a saved position sends only the lines after it."""
        path = tmp_path / "app.log.gz"
        with gzip.open(path, "wb") as handle:
            handle.write(b"".join(b"line %d\n" % n for n in range(1000)))
        tail = await harness.tail(path, TailOptions(compression="gz", read_size=4096), offset=600)
        async with Running(harness.consumer.run()):
            await tail.run()
        assert harness.consumer.lines == [f"line {n}" for n in range(600, 1000)]


class TestEnds:
    @pytest.mark.asyncio
    async def test_deleted_file_is_read_to_the_end_then_released(self, tmp_path: Path, harness: Harness) -> None:
        """A deleted file's remaining lines are read through the open descriptor before the tail ends."""
        path = tmp_path / "app.log"
        path.write_bytes(b"a\n")
        tail = await harness.tail(path)
        with path.open("ab") as handle:
            path.unlink()
            handle.write(b"b\n")
        async with Running(harness.consumer.run()):
            end = await asyncio.wait_for(tail.run(), timeout=5)
        assert end is TailEnd.RELEASE
        assert harness.consumer.lines == ["a", "b"]
        assert tail.tracker.idle
