"""Rotation under load: a writer at 10,000 lines/s rotates like logrotate; not one line may be lost or doubled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from support.files import LogWriter, Rotation, SourceRig

pytestmark = pytest.mark.asyncio

RATE = 10_000
TOTAL = 20_000  # two seconds of writing
ROTATE_EVERY = 7_000  # two rotations


async def run_writer(rig: SourceRig, writer: LogWriter) -> None:
    """Start the source, write everything, and wait until every line has arrived and been acknowledged."""
    async with rig.running() as running:
        await running.wait(lambda: rig.source.status()["ready"], what="the file to be followed")
        writer.start()
        await running.wait(lambda: len(set(rig.consumer.numbers())) >= TOTAL, timeout=20,
                           what=f"{TOTAL} distinct lines")
        await asyncio.to_thread(writer.join)
        await running.wait(lambda: all(f["read_offset"] == f["acked_offset"] for f in rig.source.status()["files"]))
        await asyncio.sleep(0.2)  # a late duplicate would show up now
    assert writer.rotations == 2


@pytest.mark.parametrize("rotation", ["rename", "copytruncate"])
@pytest.mark.parametrize("delay", [0.0, 0.05], ids=["acks-at-once", "acks-50ms-late"])
async def test_rotation_under_load_loses_nothing(tmp_path: Path, rotation: Rotation, delay: float) -> None:
    """Rename+create and copytruncate rotations while writing 10k lines/s: every line once, in order per file."""
    path = tmp_path / "app.log"
    path.touch()
    rig = SourceRig(tmp_path, str(path), delay=delay)
    await run_writer(rig, LogWriter(str(path), total=TOTAL, rate=RATE, rotate_every=ROTATE_EVERY, rotation=rotation))
    assert rig.consumer.duplicates() == {}
    assert sorted(rig.consumer.numbers()) == list(range(TOTAL))
    assert rig.errors("truncated_without_copy") == 0


@pytest.mark.parametrize("rotation", ["rename", "copytruncate"])
async def test_rotation_with_rotated_names_matched(tmp_path: Path, rotation: Rotation) -> None:
    """With a glob that also matches app.log.1, app.log.2, rotated files are followed, never read twice."""
    path = tmp_path / "app.log"
    path.touch()
    rig = SourceRig(tmp_path, f"{path}*")
    await run_writer(rig, LogWriter(str(path), total=TOTAL, rate=RATE, rotate_every=ROTATE_EVERY, rotation=rotation))
    assert rig.consumer.duplicates() == {}
    assert sorted(rig.consumer.numbers()) == list(range(TOTAL))


async def test_positions_after_rotation_point_at_the_new_file(tmp_path: Path) -> None:
    """Once the rotated file is drained and acknowledged, only the new file's position is saved."""
    path = tmp_path / "app.log"
    path.touch()
    rig = SourceRig(tmp_path, str(path), rotate_wait=0.1)
    writer = LogWriter(str(path), total=TOTAL, rate=RATE, rotate_every=ROTATE_EVERY)
    await run_writer(rig, writer)
    async with rig.running() as running:
        await running.wait(lambda: rig.store.rotated_records() == [] and len(rig.store.records()) == 1)
    assert await rig.store.close()
    assert rig.store.get(str(path)) == str(path.stat().st_size)
