"""The pipeline runner: stages in order, drops acknowledged, held entries released, labels never shared."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import ClassVar

import pytest

from agent.model import Checkpoint, Chunk, LogEntry
from agent.pipeline import Pipeline
from agent.queues import bounded_queue
from agent.server.metrics import Metrics


class Upper:
    name: ClassVar[str] = "upper"

    def process(self, entry: LogEntry) -> LogEntry | None:
        entry.line = entry.line.upper()
        return entry


class DropContaining:
    name: ClassVar[str] = "drop"

    def __init__(self, word: str) -> None:
        self.word = word

    def process(self, entry: LogEntry) -> LogEntry | None:
        return None if self.word in entry.line else entry


class LabelFromExtracted:
    name: ClassVar[str] = "labels"
    mutates_labels = True

    def process(self, entry: LogEntry) -> LogEntry | None:
        assert entry.extracted is not None
        entry.labels["level"] = str(entry.extracted.get("level", "none"))
        return entry


class HoldPairs:
    """Holds every odd entry and releases it with the next one merged in (a tiny multiline)."""

    name: ClassVar[str] = "pairs"
    holds_entries = True

    def __init__(self, fanout: int) -> None:
        self.held: LogEntry | None = None
        self.fanout = fanout
        self.deadline: float | None = None

    def process(self, entry: LogEntry) -> LogEntry | None:
        if self.held is None:
            self.held = entry
            self.deadline = 0.0
            return None
        held, self.held = self.held, None
        held.line += "\n" + entry.line
        entry.checkpoint.ack(self.fanout)
        self.deadline = None
        return held

    def next_deadline(self) -> float | None:
        return self.deadline

    def flush(self, now_ns: int) -> list[LogEntry]:
        self.deadline = None  # nothing is released on a timer here; a real stage would release the block
        return []

    def flush_all(self) -> list[LogEntry]:
        held, self.held = self.held, None
        return [held] if held else []


@dataclass
class FakeClient:
    """A client as the pipeline sees it: a bounded queue, a host, and whether it is failing."""

    queue: asyncio.Queue[Chunk]
    host: str = "loki:3100"
    failing: bool = False


def _entries(lines: list[str], checkpoint: Checkpoint, labels: dict[str, str] | None = None) -> Chunk:
    shared = labels if labels is not None else {"job": "x"}
    return [LogEntry(i, line, shared, checkpoint) for i, line in enumerate(lines)]


def _pipeline(stages: list[object], fanout: int = 1) -> Pipeline:
    return Pipeline(stages, fanout=fanout, name="test", metrics=Metrics())  # type: ignore[arg-type]


def _counting_checkpoint(pending: int, done: list[int]) -> Checkpoint:
    return Checkpoint(1, pending, lambda c: done.append(1))


class TestProcess:
    def test_no_stages_passes_chunk_through(self) -> None:
        """Without stages the chunk is handed on as it is, with no per-entry work."""
        chunk = _entries(["a"], _counting_checkpoint(1, []))
        assert _pipeline([]).process(chunk) is chunk

    def test_stages_run_in_order(self) -> None:
        """A drop stage placed after a rewrite sees the rewritten line."""
        out = _pipeline([Upper(), DropContaining("B")]).process(_entries(["a", "b"], _counting_checkpoint(2, [])))
        assert [e.line for e in out] == ["A"]

    def test_dropped_entry_acknowledged_for_every_client(self) -> None:
        """A dropped entry counts as delivered for each client, so positions can pass it."""
        done: list[int] = []
        checkpoint = _counting_checkpoint(2 * 2, done)
        out = _pipeline([DropContaining("x")], fanout=2).process(_entries(["x", "keep"], checkpoint))
        assert [e.line for e in out] == ["keep"]
        assert checkpoint.pending == 2
        assert done == []

    def test_extracted_starts_with_labels(self) -> None:
        """Stages see the entry's labels as extracted values, as in Promtail."""
        out = _pipeline([Upper()]).process(_entries(["a"], _counting_checkpoint(1, []), {"job": "x"}))
        assert out[0].extracted == {"job": "x"}

    def test_label_changes_never_leak_into_shared_labels(self) -> None:
        """A stage adding a label does not change the source's shared label dict."""
        shared = {"job": "x"}
        entries = _entries(["a", "b"], _counting_checkpoint(2, []), shared)
        entries[0].extracted = None
        out = _pipeline([LabelFromExtracted()]).process(entries)
        assert shared == {"job": "x"}
        assert out[0].labels == {"job": "x", "level": "none"}

    def test_equal_label_sets_are_shared_again(self) -> None:
        """Entries whose labels end up equal share one dict, so the client formats it once."""
        out = _pipeline([LabelFromExtracted()]).process(_entries(["a", "b", "c"], _counting_checkpoint(3, [])))
        assert out[0].labels is out[1].labels is out[2].labels

    def test_interleaved_equal_label_sets_are_shared_across_chunks(self) -> None:
        """Equal label sets share one dict even when other streams come between them, chunk after chunk."""

        class LevelFromLine(LabelFromExtracted):
            def process(self, entry: LogEntry) -> LogEntry | None:
                entry.labels["level"] = entry.line.split()[0]
                return entry

        pipeline = _pipeline([LevelFromLine()])
        first = pipeline.process(_entries(["info a", "warn b", "info c"], _counting_checkpoint(3, [])))
        second = pipeline.process(_entries(["warn d", "info e"], _counting_checkpoint(2, [])))
        info = [e.labels for e in first + second if e.line.startswith("info")]
        warn = [e.labels for e in first + second if e.line.startswith("warn")]
        assert all(labels is info[0] for labels in info)
        assert all(labels is warn[0] for labels in warn)
        assert info[0] == {"job": "x", "level": "info"}
        assert warn[0] == {"job": "x", "level": "warn"}


class SharedLevel(LabelFromExtracted):
    """A label stage that can also run on shared labels, as `labels` does: it replaces the dict, never mutates it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def process(self, entry: LogEntry) -> LogEntry | None:
        self.calls.append("process")
        return super().process(entry)

    def process_shared(self, entry: LogEntry) -> LogEntry | None:
        self.calls.append("process_shared")
        assert entry.extracted is not None
        entry.labels = {**entry.labels, "level": str(entry.extracted.get("level", "none"))}
        return entry


class TestSharedLabels:
    def test_shared_path_before_any_in_place_stage(self) -> None:
        """A stage offering `process_shared` gets the source's dict as it is: no copy is made for it."""
        stage = SharedLevel()
        shared = {"job": "x"}
        seen: list[dict[str, str]] = []

        class Spy:
            name: ClassVar[str] = "spy"

            def process(self, entry: LogEntry) -> LogEntry | None:
                seen.append(entry.labels)
                return entry

        _pipeline([Spy(), stage]).process(_entries(["a"], _counting_checkpoint(1, []), shared))
        assert seen[0] is shared
        assert stage.calls == ["process_shared"]
        assert shared == {"job": "x"}

    def test_in_place_stage_after_a_shared_one_gets_its_own_copy(self) -> None:
        """An in-place label stage after a shared-path one mutates a private copy, never the shared result."""

        class Derive(SharedLevel):
            def __init__(self) -> None:
                super().__init__()
                self.result = {"job": "x", "level": "derived"}

            def process_shared(self, entry: LogEntry) -> LogEntry | None:
                entry.labels = self.result  # one dict for every entry, as `labels` shares its results
                return entry

        derive = Derive()

        class AddTeam(LabelFromExtracted):
            def process(self, entry: LogEntry) -> LogEntry | None:
                entry.labels["team"] = entry.line
                return entry

        out = _pipeline([derive, AddTeam()]).process(_entries(["a", "b"], _counting_checkpoint(2, [])))
        assert derive.result == {"job": "x", "level": "derived"}
        assert [e.labels for e in out] == [
            {"job": "x", "level": "derived", "team": "a"},
            {"job": "x", "level": "derived", "team": "b"},
        ]

    def test_stages_from_the_first_in_place_one_run_in_place(self) -> None:
        """After an in-place label stage, a stage that could run shared mutates the private copy instead."""
        stage = SharedLevel()
        shared = {"job": "x"}
        out = _pipeline([LabelFromExtracted(), stage]).process(_entries(["a"], _counting_checkpoint(1, []), shared))
        assert stage.calls == ["process"]
        assert shared == {"job": "x"}
        assert out[0].labels == {"job": "x", "level": "none"}

    def test_released_entries_get_their_own_copy_too(self) -> None:
        """Entries a holding stage releases later still get a private label dict before in-place stages."""
        shared = {"job": "x"}
        pipeline = _pipeline([HoldPairs(1), LabelFromExtracted()])
        pipeline.process(_entries(["a"], _counting_checkpoint(1, []), shared))
        out = pipeline.flush_due(final=True)
        assert out[0].labels == {"job": "x", "level": "none"}
        assert shared == {"job": "x"}

    def test_wrapped_stage_runs_its_process(self) -> None:
        """A wrapper forwarding other attributes (as `-inspect` does) is run through its own `process`."""
        stage = SharedLevel()

        class Wrapper:
            name: ClassVar[str] = "wrapper"

            def __getattr__(self, attribute: str) -> object:
                return getattr(stage, attribute)

            def process(self, entry: LogEntry) -> LogEntry | None:
                return stage.process(entry)

        shared = {"job": "x"}
        _pipeline([Wrapper()]).process(_entries(["a"], _counting_checkpoint(1, []), shared))
        assert stage.calls == ["process"]
        assert shared == {"job": "x"}


class TestHoldingStages:
    def test_held_entry_is_not_acknowledged(self) -> None:
        """An entry a stage holds keeps its checkpoint pending until it is released and delivered."""
        done: list[int] = []
        checkpoint = _counting_checkpoint(3, done)
        out = _pipeline([HoldPairs(1)]).process(_entries(["a", "b", "c"], checkpoint))
        assert [e.line for e in out] == ["a\nb"]
        assert checkpoint.pending == 2  # "b" merged (acked), "a" out for delivery, "c" held

    def test_released_entries_run_through_later_stages(self) -> None:
        """What a holding stage releases at shutdown still goes through the stages after it."""
        pipeline = _pipeline([HoldPairs(1), Upper()])
        pipeline.process(_entries(["a"], _counting_checkpoint(1, [])))
        assert [e.line for e in pipeline.flush_due(final=True)] == ["A"]


class TestRun:
    @pytest.mark.asyncio
    async def test_every_client_gets_every_chunk(self) -> None:
        """Each client's queue receives the processed chunk; a None ends the run after a final flush."""
        source: asyncio.Queue[Chunk | None] = bounded_queue(2)
        outputs = [FakeClient(bounded_queue(4)), FakeClient(bounded_queue(4))]
        pipeline = _pipeline([HoldPairs(2), Upper()], fanout=2)
        task = asyncio.create_task(pipeline.run(source, outputs))
        await source.put(_entries(["a", "b", "c"], _counting_checkpoint(6, [])))
        await source.put(None)
        await asyncio.wait_for(task, 5)
        for client in outputs:
            queue = client.queue
            lines = []
            while not queue.empty():
                lines += [e.line for e in queue.get_nowait()]
            assert lines == ["A\nB", "C"]

    @pytest.mark.asyncio
    async def test_delaying_stage_holds_entries_back(self) -> None:
        """A stage asking for a delay makes the pipeline wait instead of dropping."""

        class Limit:
            name: ClassVar[str] = "limit"

            def __init__(self) -> None:
                self.asked = 0

            def delay_for(self, entry: LogEntry) -> float:
                self.asked += 1
                return 0.001 if self.asked == 1 else 0.0

            def process(self, entry: LogEntry) -> LogEntry | None:
                return entry

        limit = Limit()
        source: asyncio.Queue[Chunk | None] = bounded_queue(2)
        output: asyncio.Queue[Chunk] = bounded_queue(2)
        task = asyncio.create_task(_pipeline([limit]).run(source, [FakeClient(output)]))
        await source.put(_entries(["a", "b"], _counting_checkpoint(2, [])))
        await source.put(None)
        await asyncio.wait_for(task, 5)
        assert [e.line for e in output.get_nowait()] == ["a", "b"]
        assert limit.asked == 3  # asked twice for the first entry (wait, then go), once for the second


class TestFanOut:
    @pytest.mark.asyncio
    async def test_failing_client_with_full_buffer_does_not_hold_back_a_healthy_one(self) -> None:
        """Chunks keep reaching a healthy client; the failing one's share is acknowledged and counted."""
        metrics = Metrics()
        pipeline = Pipeline([], fanout=2, name="test", metrics=metrics)
        failing = FakeClient(bounded_queue(1), host="down:3100", failing=True)
        healthy = FakeClient(bounded_queue(8), host="up:3100")
        done: list[int] = []
        checkpoints = [_counting_checkpoint(2, done) for _ in range(3)]
        for checkpoint in checkpoints:
            await asyncio.wait_for(pipeline._emit(_entries(["a", "b"], checkpoint), [failing, healthy]), 5)
        assert healthy.queue.qsize() == 3
        assert failing.queue.qsize() == 1
        assert [c.pending for c in checkpoints] == [2, 0, 0]  # two chunks acknowledged for the failing client
        dropped = metrics.dropped_entries.labels(host="down:3100", reason="client_unavailable", tenant="")
        assert dropped._value.get() == 4

    @pytest.mark.asyncio
    async def test_slow_healthy_client_applies_backpressure(self) -> None:
        """A full queue of a client that is not failing makes the pipeline wait instead of dropping."""
        pipeline = Pipeline([], fanout=2, name="test", metrics=Metrics())
        slow = FakeClient(bounded_queue(1))
        other = FakeClient(bounded_queue(8))
        await pipeline._emit(_entries(["a"], _counting_checkpoint(2, [])), [slow, other])
        blocked = asyncio.create_task(pipeline._emit(_entries(["b"], _counting_checkpoint(2, [])), [slow, other]))
        await asyncio.sleep(0.05)
        assert not blocked.done()
        slow.queue.get_nowait()
        await asyncio.wait_for(blocked, 5)
        assert slow.queue.qsize() == 1

    @pytest.mark.asyncio
    async def test_all_clients_failing_still_waits(self) -> None:
        """When every client fails, nothing is dropped: the files stay the buffer."""
        pipeline = Pipeline([], fanout=2, name="test", metrics=Metrics())
        first = FakeClient(bounded_queue(1), failing=True)
        second = FakeClient(bounded_queue(1), failing=True)
        await pipeline._emit(_entries(["a"], _counting_checkpoint(2, [])), [first, second])
        blocked = asyncio.create_task(pipeline._emit(_entries(["b"], _counting_checkpoint(2, [])), [first, second]))
        await asyncio.sleep(0.05)
        assert not blocked.done()
        blocked.cancel()
