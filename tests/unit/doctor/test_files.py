"""Doctor's file checks that hold for any user: globs that match, globs that do not, the positions directory.

Unreadable files need a user other than root: tests/integration/test_doctor.py runs those as `nobody`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from agent.config.model import Config
from agent.doctor.access import current_user
from agent.doctor.files import check_files, check_positions

pytestmark = pytest.mark.asyncio


def config(*paths: str, positions: str = "/tmp/positions.yaml", exclude: str = "") -> Config:
    excluded = {"__path_exclude__": exclude} if exclude else {}
    labels: list[dict[str, Any]] = [{"__path__": p, **excluded} for p in paths]
    return Config.model_validate({
        "positions": {"filename": positions},
        "scrape_configs": [{"job_name": "app", "static_configs": [{"labels": label} for label in labels]}],
    })


class TestGlobs:
    async def test_matching_readable_files_pass(self, tmp_path: Path) -> None:
        """A glob matching readable files passes, with the count and the user named."""
        for name in ("a.log", "b.log", "c.txt"):
            (tmp_path / name).write_text("line\n")
        [check] = await check_files(config(f"{tmp_path}/*.log"), current_user())
        assert (check.status, check.name) == ("pass", f"files job=app {tmp_path}/*.log")
        assert check.message == f"2 files match, all readable by user {current_user()['name']}"

    async def test_exclusions_apply(self, tmp_path: Path) -> None:
        """`__path_exclude__` removes matches, as in the file source."""
        for name in ("a.log", "b.log"):
            (tmp_path / name).write_text("line\n")
        [check] = await check_files(config(f"{tmp_path}/*.log", exclude=f"{tmp_path}/b.log"), current_user())
        assert check.message.startswith("1 file matches")

    async def test_missing_directory_says_what_to_mount(self, tmp_path: Path) -> None:
        """A glob in a directory that does not exist fails, and the fix says to mount it."""
        [check] = await check_files(config(f"{tmp_path}/missing/*.log"), current_user())
        assert check.status == "fail"
        assert check.message == f"no file matches: the directory {tmp_path}/missing does not exist"
        assert check.fix.startswith(
            f"check the path; in a container, mount the log directory into the agent's container read-only "
            f"(docker run -v {tmp_path}/missing:{tmp_path}/missing:ro;"
        )

    async def test_no_matching_files(self, tmp_path: Path) -> None:
        """A glob in an existing directory without matching files fails and names where it looked."""
        [check] = await check_files(config(f"{tmp_path}/*.log"), current_user())
        assert (check.status, check.message) == ("fail", f"no file matches (looked in {tmp_path})")

    async def test_embedded_config_only_warns(self, tmp_path: Path) -> None:
        """The embedded default lists alternatives (syslog or not): a glob matching nothing is a warning there."""
        [check] = await check_files(config(f"{tmp_path}/*.log"), current_user(), embedded=True)
        assert check.status == "warn"

    async def test_no_file_targets(self) -> None:
        """A config that tails no files says so, without failing."""
        [check] = await check_files(Config.model_validate({}), current_user())
        assert check.status == "skip"


class TestPositions:
    async def test_writable_directory(self, tmp_path: Path) -> None:
        """An existing writable directory passes; doctor leaves nothing behind in it."""
        check = await check_positions(config(positions=str(tmp_path / "positions.yaml")), current_user())
        assert check.status == "pass"
        assert check.message == f"{tmp_path} is writable by user {current_user()['name']} " \
                                f"(positions file {tmp_path}/positions.yaml)"
        assert os.listdir(tmp_path) == []

    async def test_directory_to_create(self, tmp_path: Path) -> None:
        """A missing directory passes when the user may create it (the agent does)."""
        check = await check_positions(config(positions=str(tmp_path / "a" / "b" / "p.yaml")), current_user())
        assert check.status == "pass"
        assert check.message == f"{tmp_path}/a/b does not exist yet; user {current_user()['name']} " \
                                f"can create it in {tmp_path}"
