"""`agent.app`'s process tuning: the C allocator's thresholds, set where the C library has the knob."""

from __future__ import annotations

import ctypes
from typing import Any

import pytest

from agent import app


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return 1


class TestTuneMalloc:
    def test_sets_glibc_thresholds(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Big blocks stay in the heap: mmap threshold first, then a trim threshold four times as large."""
        libc = FakeLibc()
        monkeypatch.setattr(ctypes, "CDLL", lambda name: libc)
        app.tune_malloc()
        assert libc.calls == [(-3, app.MALLOC_KEEP_BYTES), (-1, 4 * app.MALLOC_KEEP_BYTES)]

    @pytest.mark.parametrize(
        "error",
        [
            pytest.param(AttributeError("mallopt"), id="no-mallopt"),
            pytest.param(OSError("no handle"), id="no-library"),
            pytest.param(TypeError("no handle"), id="no-handle-of-the-program"),
        ],
    )
    def test_other_c_libraries_are_left_alone(self, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
        """Without glibc's knob (musl, macOS, Windows) tuning is skipped without an error."""

        def cdll(name: Any) -> Any:
            raise error

        monkeypatch.setattr(ctypes, "CDLL", cdll)
        app.tune_malloc()
