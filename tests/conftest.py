"""Fixtures shared by every test package. Keep each one small; helpers live in `tests/support`.

pytest puts `tests/` on sys.path (rootdir conftest, no `tests/__init__.py`), so helpers import as `support.*`.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from support.agent_process import Agents
from support.loki_receiver import LokiReceiver


@pytest_asyncio.fixture
async def loki() -> AsyncIterator[LokiReceiver]:
    """A running Loki receiver on 127.0.0.1; the test fails if anything sent to it was malformed."""
    async with LokiReceiver() as receiver:
        yield receiver
    assert receiver.protocol_errors == [], "the client sent requests Loki would reject as malformed"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the name loki.test, and its key (made with the openssl CLI)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=loki.test",
         "-addext", "subjectAltName=DNS:loki.test"],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Agents]:
    """Agent processes started by the test; whatever still runs at the end is killed."""
    runner = Agents(tmp_path)
    try:
        yield runner
    finally:
        runner.close()
