"""Test helpers shared by unit and integration tests (the in-process Loki receiver and friends)."""
