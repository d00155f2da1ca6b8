"""The `include` stage: run the stages of a bundled pipeline (``- include: security``) or of a user's file.

The file is found, read and validated when the config loads (`agent.config.include` resolves it, the
registry validates its stages under the include's YAML path); here the validated stages run as one stage, so
`-inspect` shows what the whole included pipeline changed as ``[inspect: include security stage]``. It
behaves as a `match` stage whose selector matches every entry, which also forwards holding and timed
children (a `multiline` in a user's file) to the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from agent.config.base import ConfigModel
from agent.model import LogEntry
from agent.stages.base import Stage, StageContext
from agent.stages.route import MatchConfig, MatchStage

# Only for the constructor `MatchStage` shares; an include never consults a selector.
_EVERY_ENTRY = MatchConfig(selector='{__include__=""}', stages=[None])


class IncludeConfig(ConfigModel):
    """A resolved include: the name as written, and the file it came from. Made by the registry."""

    pipeline: str
    origin: str = ""
    stages: list[Any] | None = None


class IncludeStage(MatchStage):
    """`include`: the stages of a named pipeline or of a pipeline file, in place of this item.

    ```yaml
    pipeline_stages:
      - include: security          # pipelines/security.yaml, bundled with the agent
      - include: ./my-stages.yaml  # relative to this config file
    ```
    """

    name: ClassVar[str] = "include"
    Config: ClassVar[type[IncludeConfig]] = IncludeConfig  # type: ignore[assignment]
    nested_stages_field: ClassVar[str] = "stages"

    __slots__ = ("inspect_name",)

    def __init__(self, config: IncludeConfig, ctx: StageContext, children: Sequence[Stage] = ()) -> None:
        super().__init__(_EVERY_ENTRY, ctx, children)
        self.inspect_name = f"include {config.pipeline}"

    def process(self, entry: LogEntry) -> LogEntry | None:
        return self._flat(entry)

    def _delay_for(self, entry: LogEntry) -> float:
        return max(delay(entry) for delay in self._delayers)
