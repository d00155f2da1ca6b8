"""FileSource end to end on real files: discovery, positions across restarts, deletion, truncation, errors."""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import time
from pathlib import Path

import pytest
import yaml

from agent.config.model import DecompressionConfig
from agent.sources import fileio
from support.files import SourceRig, line_text, numbers, open_store, write_lines

pytestmark = pytest.mark.asyncio


def positions_file(tmp_path: Path) -> Path:
    return tmp_path / "state" / "positions.yaml"


def copy_truncate(path: Path) -> None:
    """What logrotate's copytruncate does: copy to path.1, then truncate in place."""
    Path(f"{path}.1").write_bytes(path.read_bytes())
    os.truncate(path, 0)


def save_identity(tmp_path: Path, path: Path, offset: int, fingerprint: str) -> None:
    """Write positions and an identity for `path` (its real inode, the given fingerprint), as the agent would."""
    st = path.stat()
    positions_file(tmp_path).parent.mkdir()
    positions_file(tmp_path).write_text(f'positions:\n  {path}: "{offset}"\n')
    Path(f"{positions_file(tmp_path)}.agent").write_text(yaml.safe_dump({"version": 1, "files": [{
        "path": str(path), "offset": offset, "rotated": False, "device": st.st_dev, "inode": st.st_ino,
        "size": st.st_size, "fingerprint": fingerprint, "fingerprint_size": 64,
    }]}))


class TestDiscovery:
    async def test_reads_matching_files_with_filename_label(self, tmp_path: Path) -> None:
        """Every file the glob matches is read from its start, labelled with its path; excluded ones are not."""
        logs = tmp_path / "logs"
        (logs / "nested").mkdir(parents=True)
        write_lines(str(logs / "a.log"), 0, 3)
        write_lines(str(logs / "nested" / "b.log"), 10, 2)
        write_lines(str(logs / "skip.log"), 20, 2)
        write_lines(str(logs / "other.txt"), 30, 2)
        rig = SourceRig(tmp_path, f"{logs}/**/*.log", exclude=f"{logs}/skip*")
        async with rig.running() as running:
            await running.wait(lambda: len(rig.consumer.lines) == 5)
        by_file = {chunk[0].labels["filename"]: [e.line for e in chunk] for chunk in rig.consumer.chunks}
        assert by_file == {
            str(logs / "a.log"): [line_text(n, 40) for n in range(3)],
            str(logs / "nested" / "b.log"): [line_text(n, 40) for n in (10, 11)],
        }
        assert rig.consumer.chunks[0][0].labels["job"] == "test"

    async def test_new_file_is_read_without_waiting_for_the_sync(self, tmp_path: Path) -> None:
        """A file created after start is picked up from filesystem events, well before the next sync."""
        rig = SourceRig(tmp_path, f"{tmp_path}/*.log", sync_period=60.0)
        async with rig.running() as running:
            started = time.monotonic()
            write_lines(str(tmp_path / "new.log"), 0, 1)
            await running.wait(lambda: len(rig.consumer.lines) == 1, timeout=5)
            assert rig.consumer.arrivals[0] - started < 2.0

    async def test_appended_line_arrives_within_milliseconds(self, tmp_path: Path) -> None:
        """An appended line is delivered on the change event, not at the (here: 5 s) poll."""
        path = tmp_path / "app.log"
        write_lines(str(path), 0, 1)
        rig = SourceRig(tmp_path, str(path), sync_period=60.0, poll=5.0)
        async with rig.running() as running:
            await running.wait(lambda: len(rig.consumer.lines) == 1)
            await asyncio.sleep(0.1)  # let the first poll's wait begin, so only the event can wake it
            latencies = []
            for number in range(1, 6):
                started = time.monotonic()
                write_lines(str(path), number, 1)
                await running.wait(lambda n=number: len(rig.consumer.lines) == n + 1, timeout=3)
                latencies.append(rig.consumer.arrivals[-1] - started)
        assert max(latencies) < 0.5, latencies

    async def test_symlinked_file_is_followed_by_polling(self, tmp_path: Path) -> None:
        """Appends to a file behind a symlink (as Kubernetes lays out /var/log/containers) arrive within a poll."""
        (tmp_path / "pods").mkdir()
        (tmp_path / "containers").mkdir()
        real = tmp_path / "pods" / "0.log"
        write_lines(str(real), 0, 1)
        (tmp_path / "containers" / "app.log").symlink_to(real)
        rig = SourceRig(tmp_path, f"{tmp_path}/containers/*.log", sync_period=60.0, poll=0.1)
        async with rig.running() as running:
            await running.wait(lambda: len(rig.consumer.lines) == 1)
            started = time.monotonic()
            write_lines(str(real), 1, 1)
            await running.wait(lambda: len(rig.consumer.lines) == 2, timeout=5)
        assert rig.consumer.arrivals[-1] - started < 1.0
        assert rig.consumer.chunks[0][0].labels["filename"] == str(tmp_path / "containers" / "app.log")

    async def test_glob_matching_nothing_is_not_an_error(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A glob without matches logs once at info and reports not ready; no error is counted."""
        caplog.set_level(logging.INFO)
        rig = SourceRig(tmp_path, f"{tmp_path}/missing/*.log", sync_period=0.05)
        async with rig.running() as running:
            await running.wait(lambda: "No files match" in caplog.text)
            await asyncio.sleep(0.2)  # several more syncs
        assert caplog.text.count("No files match") == 1
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert rig.source.status() == {"ready": False, "files": []}

    async def test_status_shows_read_and_acknowledged_offsets(self, tmp_path: Path) -> None:
        """`status()` lists each file with what was read and what was acknowledged."""
        path = tmp_path / "app.log"
        write_lines(str(path), 0, 10, width=0)
        rig = SourceRig(tmp_path, str(path), ack_chunks=0)
        async with rig.running() as running:
            await running.wait(lambda: len(rig.consumer.lines) == 10)
            status = rig.source.status()
        size = path.stat().st_size
        assert status == {
            "ready": True,
            "files": [{"path": str(path), "state": "following", "read_offset": size, "acked_offset": 0,
                       "size": size, "unit": "bytes"}],
        }


class TestPositions:
    async def test_promtail_positions_are_honoured(self, tmp_path: Path) -> None:
        """A position saved by Promtail resumes there: earlier lines are not sent again."""
        path = tmp_path / "app.log"
        write_lines(str(path), 0, 10)
        offset = len(line_text(0, 40)) + 1
        positions_file(tmp_path).parent.mkdir()
        positions_file(tmp_path).write_text(f'positions:\n  {path}: "{offset * 4}"\n')
        rig = SourceRig(tmp_path, str(path))
        async with rig.running() as running:
            await running.wait(lambda: len(rig.consumer.lines) == 6)
            await asyncio.sleep(0.1)
        assert rig.consumer.numbers() == list(range(4, 10))

    async def test_promtail_position_past_the_end_starts_over(self, tmp_path: Path) -> None:
        """A Promtail position beyond the file's size means it was truncated: read from the start."""
        path = tmp_path / "app.log"
        write_lines(str(path), 0, 3)
        positions_file(tmp_path).parent.mkdir()
        positions_file(tmp_path).write_text(f'positions:\n  {path}: "999999"\n')
        rig = SourceRig(tmp_path, str(path))
        async with rig.running() as running:
            await running.wait(lambda: len(rig.consumer.lines) == 3)
        assert rig.consumer.numbers() == [0, 1, 2]

    async def test_restart_resumes_from_the_acknowledged_offset(self, tmp_path: Path) -> None:
        """After a stop with chunks unacknowledged, a restart loses nothing and repeats only those chunks."""
        path = tmp_path / "app.log"
        write_lines(str(path), 0, 2000)
        first = SourceRig(tmp_path, str(path), ack_chunks=3, read_size=8192)
        async with first.running() as running:
            await running.wait(lambda: len(first.consumer.lines) == 2000)
        assert await first.store.close()
        assert len(first.consumer.chunks) > 3
        acked = set(numbers(first.consumer.acked_lines))

        second = SourceRig(tmp_path, str(path), store=open_store(tmp_path))
        async with second.running() as running:
            await running.wait(lambda: len(second.consumer.lines) == 2000 - len(acked))
            await asyncio.sleep(0.1)
        again = second.consumer.numbers()
        assert set(again) | acked == set(range(2000))  # nothing lost
        assert not set(again) & acked  # only unacknowledged lines are repeated
        assert second.consumer.duplicates() == {}

    async def test_rotation_while_stopped_is_caught_up(self, tmp_path: Path) -> None:
        """Lines written before a rename rotation that happened while the agent was down are still read."""
        path = tmp_path / "app.log"
        write_lines(str(path), 0, 100)
        first = SourceRig(tmp_path, str(path))
        async with first.running() as running:
            await running.wait(lambda: first.store.get(str(path)) == str(path.stat().st_size))
        await first.store.close()

        write_lines(str(path), 100, 50)
        os.rename(path, f"{path}.1")
        write_lines(str(path), 150, 50)
        second = SourceRig(tmp_path, str(path), store=open_store(tmp_path))
        async with second.running() as running:
            await running.wait(lambda: len(second.consumer.lines) >= 100)
            await running.wait(lambda: not second.store.rotated_records() and len(second.source.status()["files"]) == 1)
        assert sorted(second.consumer.numbers()) == list(range(100, 200))

    async def test_rotation_while_stopped_with_rotated_names_matched(self, tmp_path: Path) -> None:
        """When the glob also matches the rotated name, the renamed file resumes where it was, not from 0."""
        path = tmp_path / "app.log"
        write_lines(str(path), 0, 100)
        first = SourceRig(tmp_path, f"{path}*")
        async with first.running() as running:
            await running.wait(lambda: first.store.get(str(path)) == str(path.stat().st_size))
        await first.store.close()

        write_lines(str(path), 100, 50)
        os.rename(path, f"{path}.1")
        write_lines(str(path), 150, 50)
        second = SourceRig(tmp_path, f"{path}*", store=open_store(tmp_path))
        async with second.running() as running:
            await running.wait(lambda: len(second.consumer.lines) >= 100)
            await asyncio.sleep(0.3)
        assert sorted(second.consumer.numbers()) == list(range(100, 200))

    async def test_copytruncate_while_stopped_is_caught_up(self, tmp_path: Path) -> None:
        """Lines only left in the copy after a copytruncate while the agent was down are read from it."""
        path = tmp_path / "app.log"
        write_lines(str(path), 0, 100)
        first = SourceRig(tmp_path, str(path))
        async with first.running() as running:
            await running.wait(lambda: first.store.get(str(path)) == str(path.stat().st_size))
        await first.store.close()

        write_lines(str(path), 100, 50)
        copy_truncate(path)
        write_lines(str(path), 150, 50)
        second = SourceRig(tmp_path, str(path), store=open_store(tmp_path))
        async with second.running() as running:
            await running.wait(lambda: len(second.consumer.lines) >= 100)
            await asyncio.sleep(0.3)
        assert sorted(second.consumer.numbers()) == list(range(100, 200))

    async def test_restart_while_draining_a_rotated_file(self, tmp_path: Path) -> None:
        """A rotated file not yet acknowledged when the agent stops is found again and re-read after restart."""
        path = tmp_path / "app.log"
        write_lines(str(path), 0, 100)
        first = SourceRig(tmp_path, str(path), ack_chunks=0, rotate_wait=60.0)
        async with first.running() as running:
            await running.wait(lambda: len(first.consumer.lines) == 100)
            os.rename(path, f"{path}.1")
            write_lines(str(path), 100, 50)
            await running.wait(lambda: len(first.consumer.lines) == 150)
            assert [f["state"] for f in first.source.status()["files"]] == ["draining", "following"]
        assert await first.store.close()
        assert [r.offset for r in open_store(tmp_path).rotated_records()] == [0]  # saved as still to drain

        second = SourceRig(tmp_path, str(path), store=open_store(tmp_path), rotate_wait=0.1)
        async with second.running() as running:
            await running.wait(lambda: len(second.consumer.lines) >= 150)
            await running.wait(lambda: second.store.rotated_records() == [] and len(second.store.records()) == 1)
        assert sorted(second.consumer.numbers()) == list(range(150))

    async def test_reused_inode_is_read_from_the_start(self, tmp_path: Path) -> None:
        """A saved position whose inode now holds other content (inode reuse) is not applied to it."""
        path = tmp_path / "app.log"
        write_lines(str(path), 0, 10)
        save_identity(tmp_path, path, offset=300, fingerprint="0000000000000000")
        rig = SourceRig(tmp_path, str(path))
        async with rig.running() as running:
            await running.wait(lambda: len(rig.consumer.lines) == 10)
        assert rig.consumer.numbers() == list(range(10))


class TestFileChanges:
    async def test_deleted_file_is_drained_and_forgotten(self, tmp_path: Path) -> None:
        """A deleted file's last lines are read, then its position is removed."""
        path = tmp_path / "app.log"
        write_lines(str(path), 0, 5)
        rig = SourceRig(tmp_path, str(path), rotate_wait=0.2)
        async with rig.running() as running:
            await running.wait(lambda: len(rig.consumer.lines) == 5)
            with path.open("ab") as handle:
                path.unlink()
                handle.write(b"line 00000005 after delete\n")
            await running.wait(lambda: rig.source.status()["files"] == [], timeout=5)
        assert rig.consumer.numbers() == list(range(6))
        assert rig.store.get(str(path)) is None
        assert rig.store.records() == []

    async def test_truncated_file_restarts_at_zero(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """A file truncated in place (no copy) is read again from its start; the possible loss is counted."""
        path = tmp_path / "app.log"
        write_lines(str(path), 0, 5)
        rig = SourceRig(tmp_path, str(path), poll=0.02)
        async with rig.running() as running:
            await running.wait(lambda: len(rig.consumer.lines) == 5)
            os.truncate(path, 0)
            write_lines(str(path), 100, 2, width=0)
            await running.wait(lambda: len(rig.consumer.lines) == 7)
        assert rig.consumer.numbers() == [0, 1, 2, 3, 4, 100, 101]
        assert rig.errors("truncated_without_copy") == 1
        assert "no copy found" in caplog.text

    async def test_unreadable_file_warns_once_and_others_continue(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Permission denied is one clear warning per file, counted, retried each sync; other files flow."""
        locked, fine = tmp_path / "locked.log", tmp_path / "fine.log"
        write_lines(str(locked), 0, 1)
        write_lines(str(fine), 1, 1)
        real_open = fileio.open_file
        allowed = False

        async def open_file(path: str) -> fileio.Opened:
            if path == str(locked) and not allowed:
                raise PermissionError(13, "Permission denied", path)
            return await real_open(path)

        monkeypatch.setattr(fileio, "open_file", open_file)
        rig = SourceRig(tmp_path, f"{tmp_path}/*.log", sync_period=0.05)
        async with rig.running() as running:
            await running.wait(lambda: rig.consumer.lines == [line_text(1, 40)])
            await running.wait(lambda: rig.errors("permission_denied") >= 3)
            allowed = True
            await running.wait(lambda: len(rig.consumer.lines) == 2)
        warnings = [r for r in caplog.records if "permission denied" in r.getMessage()]
        assert len(warnings) == 1
        assert warnings[0].path == str(locked)  # type: ignore[attr-defined]
        assert "group adm" in warnings[0].getMessage()


class TestCompressed:
    async def test_gzip_file_is_read_once(self, tmp_path: Path) -> None:
        """With decompression enabled a .gz file is read to its end once, and not again at the next syncs."""
        path = tmp_path / "old.log.gz"
        with gzip.open(path, "wb") as handle:
            handle.write(b"".join(line_text(n).encode() + b"\n" for n in range(50)))
        rig = SourceRig(tmp_path, f"{tmp_path}/*.gz", sync_period=0.05,
                        decompression=DecompressionConfig(enabled=True))
        async with rig.running() as running:
            await running.wait(lambda: len(rig.consumer.lines) == 50)
            await asyncio.sleep(0.3)
        assert rig.consumer.numbers() == list(range(50))
        assert rig.store.get(str(path)) == "50"

    async def test_damaged_archive_is_read_up_to_the_damage_once(self, tmp_path: Path) -> None:
        """A truncated .gz yields the lines before the damage, once; the damage is counted, not retried."""
        whole = gzip.compress(b"".join(line_text(n).encode() + b"\n" for n in range(20000)))
        (tmp_path / "cut.log.gz").write_bytes(whole[: len(whole) // 2])
        rig = SourceRig(tmp_path, f"{tmp_path}/*.gz", sync_period=0.05,
                        decompression=DecompressionConfig(enabled=True, format="gz"))
        async with rig.running() as running:
            await running.wait(lambda: rig.errors("decompress_failed") == 1)
            await asyncio.sleep(0.3)  # several syncs: nothing is read again
        assert rig.errors("decompress_failed") == 1
        assert rig.consumer.duplicates() == {}
        assert rig.consumer.numbers() == list(range(len(rig.consumer.lines)))
        assert len(rig.consumer.lines) > 1000

    async def test_compressed_file_is_skipped_without_decompression(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Without decompression a .gz file is not shipped as binary lines; a warning says how to read it."""
        with gzip.open(tmp_path / "old.log.gz", "wb") as handle:
            handle.write(b"line\n")
        rig = SourceRig(tmp_path, f"{tmp_path}/*", sync_period=0.05)
        async with rig.running() as running:
            await running.wait(lambda: "decompression.enabled" in caplog.text)
            await asyncio.sleep(0.1)
        assert rig.consumer.lines == []

