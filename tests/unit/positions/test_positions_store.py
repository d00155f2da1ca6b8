"""PositionStore and FileTracker: Promtail's file format, atomic saves, and offsets that advance on acks."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import yaml

from agent.errors import PositionsError
from agent.positions.config import PositionsConfig
from agent.positions.store import PositionStore
from agent.positions.tracker import FileIdentity
from agent.server.metrics import Metrics
from support.files import wait_until

IDENTITY = FileIdentity.of(1, 42, b"first line\n")


def make_store(path: Path, **options: object) -> PositionStore:
    read_only = bool(options.pop("read_only", False))
    config = PositionsConfig(filename=str(path), **options)  # type: ignore[arg-type]
    store = PositionStore(config, Metrics(), read_only=read_only)
    store.load()
    return store


def saved_count(store: PositionStore, result: str = "ok") -> float:
    value = store.metrics.registry.get_sample_value("agent_positions_saves_total", {"result": result})
    return value or 0.0


class TestPromtailFormat:
    def test_reads_promtail_positions(self, tmp_path: Path) -> None:
        """Offsets written by Promtail (quoted strings) are what the store resumes from."""
        path = tmp_path / "positions.yaml"
        path.write_text('positions:\n  /var/log/syslog: "12345"\n  /var/log/auth.log: "7"\n')
        store = make_store(path)
        record = store.record("/var/log/syslog")
        assert record is not None
        assert record.offset == 12345
        assert record.identity is None  # Promtail knows no identity
        assert store.get("/var/log/auth.log") == "7"

    @pytest.mark.asyncio
    async def test_keeps_foreign_keys(self, tmp_path: Path) -> None:
        """Journal cursors and other keys the agent does not manage are written back unchanged."""
        path = tmp_path / "positions.yaml"
        path.write_text(
            "positions:\n  journal-default: s=abc;i=1f\n  cursor-container1: '1700000000'\n  /x.log: \"3\"\n"
        )
        store = make_store(path)
        store.set("cursor-container2", "99")
        assert await store.save()
        saved = yaml.safe_load(path.read_text())["positions"]
        assert saved == {
            "journal-default": "s=abc;i=1f",
            "cursor-container1": "1700000000",
            "cursor-container2": "99",
            "/x.log": "3",
        }

    @pytest.mark.asyncio
    async def test_writes_offsets_as_quoted_strings(self, tmp_path: Path) -> None:
        """The saved file has Promtail's shape: a `positions` map of path to offset as a string."""
        path = tmp_path / "positions.yaml"
        store = make_store(path)
        tracker = store.track(store.new_record("/var/log/app.log", IDENTITY), fanout=1)
        tracker.checkpoint(120, 3).ack(3)
        assert await store.save()
        text = path.read_text()
        assert '/var/log/app.log: "120"' in text
        assert yaml.safe_load(text) == {"positions": {"/var/log/app.log": "120"}}

    @pytest.mark.asyncio
    async def test_identity_survives_a_restart(self, tmp_path: Path) -> None:
        """The side file brings back a file's device, inode and fingerprint with its offset."""
        path = tmp_path / "positions.yaml"
        store = make_store(path)
        tracker = store.track(store.new_record("/var/log/app.log", IDENTITY), fanout=1)
        tracker.note_size(500)
        tracker.checkpoint(120, 1).ack()
        assert await store.save()
        again = make_store(path)
        record = again.record("/var/log/app.log")
        assert record is not None
        assert (record.offset, record.identity, record.size) == (120, IDENTITY, 500)

    @pytest.mark.asyncio
    async def test_identity_ignored_when_promtail_moved_on(self, tmp_path: Path) -> None:
        """If positions.yaml was rewritten by Promtail since, its offset wins and the identity is dropped."""
        path = tmp_path / "positions.yaml"
        store = make_store(path)
        store.track(store.new_record("/var/log/app.log", IDENTITY), fanout=1).checkpoint(120, 1).ack()
        assert await store.save()
        path.write_text('positions:\n  /var/log/app.log: "999"\n')
        record = make_store(path).record("/var/log/app.log")
        assert record is not None
        assert (record.offset, record.identity) == (999, None)

    @pytest.mark.asyncio
    async def test_rotated_records_are_kept_out_of_promtails_file(self, tmp_path: Path) -> None:
        """A rotated file still being drained is saved in the side file only, and found again on reload."""
        path = tmp_path / "positions.yaml"
        store = make_store(path)
        record = store.new_record("/var/log/app.log", IDENTITY)
        store.track(record, fanout=1).checkpoint(50, 1).ack()
        store.mark_rotated(record)
        assert await store.save()
        assert yaml.safe_load(path.read_text()) == {"positions": {}}
        rotated = make_store(path).rotated_records()
        assert [(r.key, r.offset, r.identity) for r in rotated] == [("/var/log/app.log", 50, IDENTITY)]


class TestInvalidFile:
    def test_corrupt_file_is_an_error_naming_file_and_problem(self, tmp_path: Path) -> None:
        """Invalid YAML stops the start with the file's path, the problem and its line."""
        path = tmp_path / "positions.yaml"
        path.write_text("positions:\n  /a: [unclosed\n")
        with pytest.raises(PositionsError) as raised:
            make_store(path)
        message = str(raised.value)
        assert str(path) in message
        assert "line 3" in message or "line 2" in message
        assert "ignore_invalid_yaml" in message

    def test_wrong_shape_is_an_error(self, tmp_path: Path) -> None:
        """A `positions` that is not a map is reported, not silently emptied."""
        path = tmp_path / "positions.yaml"
        path.write_text("positions:\n  - a\n")
        with pytest.raises(PositionsError, match="must be a mapping"):
            make_store(path)

    def test_ignore_invalid_yaml_sets_the_file_aside(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """With ignore_invalid_yaml the store starts empty, warns, and keeps the bad file as .corrupt."""
        path = tmp_path / "positions.yaml"
        path.write_text("positions: {/a: \"1\"\n")
        store = make_store(path, ignore_invalid_yaml=True)
        assert store.records() == []
        assert (tmp_path / "positions.yaml.corrupt").read_text() == "positions: {/a: \"1\"\n"
        assert any("invalid" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)

    def test_unreadable_side_file_only_warns(self, tmp_path: Path) -> None:
        """A damaged side file costs rotation detection, not the positions."""
        path = tmp_path / "positions.yaml"
        path.write_text('positions:\n  /a.log: "5"\n')
        (tmp_path / "positions.yaml.agent").write_text("files: {{{")
        record = make_store(path).record("/a.log")
        assert record is not None
        assert record.offset == 5


class TestSaving:
    @pytest.mark.asyncio
    async def test_save_is_atomic_and_leaves_no_temp_files(self, tmp_path: Path) -> None:
        """After saving, the directory holds exactly the two files, both complete YAML."""
        path = tmp_path / "positions.yaml"
        store = make_store(path)
        for index in range(3):
            store.track(store.new_record(f"/var/log/{index}.log", IDENTITY), fanout=1).checkpoint(10, 0)
            assert await store.save()
        assert sorted(os.listdir(tmp_path)) == ["positions.yaml", "positions.yaml.agent"]
        assert len(yaml.safe_load(path.read_text())["positions"]) == 3
        assert len(yaml.safe_load((tmp_path / "positions.yaml.agent").read_text())["files"]) == 3
        assert oct(path.stat().st_mode & 0o777) == "0o600"

    @pytest.mark.asyncio
    async def test_saves_only_when_something_changed(self, tmp_path: Path) -> None:
        """A second save without changes writes nothing."""
        path = tmp_path / "positions.yaml"
        store = make_store(path)
        store.set("cursor-a", "1")
        assert await store.save()
        mtime = path.stat().st_mtime_ns
        assert await store.save()
        assert saved_count(store) == 1
        assert path.stat().st_mtime_ns == mtime

    @pytest.mark.asyncio
    async def test_missing_directory_is_created(self, tmp_path: Path) -> None:
        """A positions path in a directory that does not exist yet works."""
        path = tmp_path / "a" / "b" / "positions.yaml"
        store = make_store(path)
        store.set("cursor-a", "1")
        assert await store.close()
        assert path.exists()

    def test_unwritable_location_says_how_to_fix_it(self, tmp_path: Path) -> None:
        """A directory that cannot be created fails the start with the path and the flag to change it."""
        blocker = tmp_path / "file"
        blocker.write_text("")
        with pytest.raises(PositionsError) as raised:
            make_store(blocker / "positions.yaml")
        assert str(blocker) in str(raised.value)
        assert "-positions.file" in str(raised.value)

    @pytest.mark.asyncio
    async def test_failed_save_is_counted_and_retried(self, tmp_path: Path) -> None:
        """A save that cannot write is counted as an error, keeps the changes, and the next save writes them."""
        directory = tmp_path / "state"
        store = make_store(directory / "positions.yaml")
        store.set("cursor-a", "1")
        directory.rmdir()
        directory.write_text("not a directory any more")
        assert not await store.save()
        assert saved_count(store, "error") == 1
        directory.unlink()
        directory.mkdir()
        assert await store.save()
        assert yaml.safe_load((directory / "positions.yaml").read_text()) == {"positions": {"cursor-a": "1"}}

    @pytest.mark.asyncio
    async def test_read_only_never_writes(self, tmp_path: Path) -> None:
        """Dry-run reads positions but leaves the disk untouched, even at close."""
        path = tmp_path / "positions.yaml"
        path.write_text('positions:\n  /a.log: "5"\n')
        before = path.read_bytes()
        store = make_store(path, read_only=True)
        store.set("cursor-a", "1")
        store.track(store.new_record("/b.log", IDENTITY), fanout=1).checkpoint(9, 0)
        assert await store.close()
        assert path.read_bytes() == before
        assert sorted(os.listdir(tmp_path)) == ["positions.yaml"]

    @pytest.mark.asyncio
    async def test_run_saves_periodically_and_forgets_deleted_files(self, tmp_path: Path) -> None:
        """Every sync period the store saves, dropping untracked files that no longer exist (cursors stay)."""
        log_file = tmp_path / "exists.log"
        log_file.write_text("x\n")
        path = tmp_path / "positions.yaml"
        path.write_text(
            f'positions:\n  {log_file}: "2"\n  {tmp_path}/gone.log: "9"\n  cursor-c: "4"\n'
        )
        store = make_store(path, sync_period="20ms")
        task = asyncio.create_task(store.run())
        try:
            await wait_until(
                lambda: "gone.log" not in path.read_text() and saved_count(store) >= 1, what="cleanup save"
            )
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        saved = yaml.safe_load(path.read_text())["positions"]
        assert saved == {str(log_file): "2", "cursor-c": "4"}


class TestTracker:
    def test_acked_offset_advances_over_completed_prefix_only(self, tmp_path: Path) -> None:
        """Chunks completing out of order move the position only past the oldest completed run."""
        store = make_store(tmp_path / "p.yaml")
        tracker = store.track(store.new_record("/a.log", IDENTITY), fanout=2)
        first, second, third = (tracker.checkpoint(end, 1) for end in (100, 200, 300))
        third.ack(2)
        second.ack(2)
        assert tracker.acked_offset == 0
        first.ack(1)
        assert tracker.acked_offset == 0  # one client of two has not acknowledged
        first.ack(1)
        assert tracker.acked_offset == 300
        assert store.get("/a.log") == "300"

    def test_empty_chunk_waits_its_turn(self, tmp_path: Path) -> None:
        """A chunk whose lines were all dropped completes at once but cannot overtake an earlier one."""
        store = make_store(tmp_path / "p.yaml")
        tracker = store.track(store.new_record("/a.log", IDENTITY), fanout=1)
        first = tracker.checkpoint(100, 1)
        tracker.checkpoint(150, 0)
        assert tracker.acked_offset == 0
        first.ack()
        assert tracker.acked_offset == 150

    def test_unacknowledged_bytes_gauge(self, tmp_path: Path) -> None:
        """agent_unacknowledged_bytes shows read minus acknowledged, per path."""
        store = make_store(tmp_path / "p.yaml")
        tracker = store.track(store.new_record("/a.log", IDENTITY), fanout=1)
        first = tracker.checkpoint(100, 1)
        tracker.checkpoint(250, 1)
        registry = store.metrics.registry
        assert registry.get_sample_value("agent_unacknowledged_bytes", {"path": "/a.log"}) == 250
        first.ack()
        assert registry.get_sample_value("agent_unacknowledged_bytes", {"path": "/a.log"}) == 150

    def test_released_file_leaves_the_positions(self, tmp_path: Path) -> None:
        """Releasing a record removes its key, and late acknowledgements change nothing."""
        store = make_store(tmp_path / "p.yaml")
        record = store.new_record("/a.log", IDENTITY)
        checkpoint = store.track(record, fanout=1).checkpoint(100, 1)
        store.release(record)
        checkpoint.ack()
        assert store.get("/a.log") is None
        assert store.metrics.registry.get_sample_value("agent_unacknowledged_bytes", {"path": "/a.log"}) is None

    def test_rekey_moves_the_position_to_the_new_name(self, tmp_path: Path) -> None:
        """A rotated file adopted under a new path keeps its offset there."""
        store = make_store(tmp_path / "p.yaml")
        record = store.new_record("/a.log", IDENTITY)
        store.track(record, fanout=1).checkpoint(100, 1).ack()
        store.mark_rotated(record)
        store.rekey(record, "/a.log.1")
        assert (store.get("/a.log"), store.get("/a.log.1")) == (None, "100")


class TestIdentity:
    def test_fingerprint_taken_early_still_matches_a_grown_file(self) -> None:
        """An identity taken when the file was short matches the same file after it grew."""
        short = FileIdentity.of(1, 2, b"abc")
        assert short.same_file(1, 2, b"abc" + b"d" * 2000)
        grown = short.grown(b"abc" + b"d" * 2000)
        assert grown.fingerprint_size == 2003
        assert grown.same_content(b"abc" + b"d" * 2000)

    def test_reused_inode_is_a_different_file(self) -> None:
        """Same device and inode with different first bytes is not the same file."""
        assert not IDENTITY.same_file(1, 42, b"another first line\n")

