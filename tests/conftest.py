"""Fixtures shared by every test package. Keep each one small; helpers live in `tests/support`.

pytest puts `tests/` on sys.path (rootdir conftest, no `tests/__init__.py`), so helpers import as `support.*`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from support.loki_receiver import LokiReceiver


@pytest_asyncio.fixture
async def loki() -> AsyncIterator[LokiReceiver]:
    """A running Loki receiver on 127.0.0.1; the test fails if anything sent to it was malformed."""
    async with LokiReceiver() as receiver:
        yield receiver
    assert receiver.protocol_errors == [], "the client sent requests Loki would reject as malformed"
