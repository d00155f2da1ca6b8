"""Container cursors in the positions files: exact in the side file, Promtail's seconds in positions.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent.model import Checkpoint
from agent.positions.config import PositionsConfig
from agent.positions.cursors import ContainerCursors, CursorTracker
from agent.positions.store import PositionStore
from agent.server.metrics import Metrics
from agent.sources.docker_frames import Cursor, Mark

NS = 1_000_000_000
EXACT = Cursor(Mark(1_700_000_005 * NS + 7, 2), Mark(1_700_000_003 * NS, 1))


@pytest.mark.asyncio
async def test_saved_and_loaded_exactly(tmp_path: Path) -> None:
    config = PositionsConfig(filename=str(tmp_path / "positions.yaml"))
    store = PositionStore(config, Metrics())
    store.load()
    store.set_cursor("containers", "abc", EXACT)
    assert await store.save()
    saved = yaml.safe_load((tmp_path / "positions.yaml").read_text())
    assert saved == {"positions": {"cursor-abc": "1700000005"}}  # what Promtail reads: the newest line's second

    again = PositionStore(config, Metrics())
    again.load()
    assert again.containers.adopt("containers", "abc") == EXACT
    again.forget_cursor("containers", "abc")
    assert await again.save()
    assert yaml.safe_load((tmp_path / "positions.yaml").read_text()) == {"positions": {}}


def test_promtail_cursor_without_exact_one_resumes_from_its_second() -> None:
    cursors = ContainerCursors()
    cursors.load([], {"cursor-abc": "1700000005", "/var/log/syslog": "10"})
    start = Mark(1_700_000_005 * NS, 0)
    assert cursors.adopt("job", "abc") == Cursor(start, start)
    assert cursors.ids("job") == ["abc"]


def test_exact_cursor_overtaken_by_promtail_is_ignored() -> None:
    saved = [{"job": "job", "id": "abc", "stdout": list(EXACT.stdout), "stderr": list(EXACT.stderr)}]
    cursors = ContainerCursors()
    cursors.load(saved, {"cursor-abc": "1700000009"})
    start = Mark(1_700_000_009 * NS, 0)
    assert cursors.get("job", "abc") == Cursor(start, start)
    agreeing = ContainerCursors()
    agreeing.load(saved, {"cursor-abc": "1700000005"})
    assert agreeing.get("job", "abc") == EXACT
    lost = ContainerCursors()
    lost.load(saved, {})
    assert lost.get("job", "abc") is None


def test_tracker_advances_over_the_acknowledged_prefix_only() -> None:
    advanced: list[Cursor] = []
    tracker = CursorTracker(Cursor(), advanced.append)
    first, second = Cursor(Mark(1, 1), Mark(0, 0)), Cursor(Mark(2, 1), Mark(0, 0))
    a: Checkpoint = tracker.checkpoint(first, 2)
    b = tracker.checkpoint(second, 1)
    b.ack()
    assert advanced == []  # the older chunk is still out
    a.ack(2)
    assert advanced == [second]
    assert tracker.idle
