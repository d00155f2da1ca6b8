"""The base of every config model: unknown keys are errors, values are typed, nothing is coerced silently."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    """A section of the YAML config. Subclasses declare Promtail's keys with Promtail's defaults."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)
