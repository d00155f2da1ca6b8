"""The `match` stage: run nested stages on, or drop, the entries a LogQL selector picks.

The selector (`agent.stages.selector`) is parsed once; per entry the stage tests the entry's current labels
and line and, on a match, either drops the entry (``action: drop``) or runs its nested `stages` in order
(``action: keep``). Nested stages are built by the registry and handed in as `children`.

A nested stage that holds entries (`multiline`), asks for a delay (`limit` without `drop`) or changes labels
makes this stage do the same for the pipeline: the pipeline only looks at its top-level stages, so this
stage forwards `flush`, `next_deadline`, `flush_all` and `delay_for` to its children and runs what they
release through the children after them. Those methods exist on an instance only when a child needs them,
because the pipeline decides by `hasattr` whether to take its slower paths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal, Protocol, cast

from pydantic import field_validator, model_validator

from agent.config.base import ConfigModel
from agent.model import LogEntry
from agent.stages.base import Stage, StageContext
from agent.stages.selector import Selector, parse_selector


class _TimedStage(Protocol):
    def flush(self, now_ns: int) -> list[LogEntry]: ...
    def next_deadline(self) -> float | None: ...


class MatchConfig(ConfigModel):
    """Promtail's `match` keys; `stages` stays raw here and is validated by the registry, with its path."""

    selector: str
    action: Literal["keep", "drop"] = "keep"
    stages: list[Any] | None = None
    pipeline_name: str | None = None
    drop_counter_reason: str = "match_stage"

    @field_validator("selector")
    @classmethod
    def _parse(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a selector is required, such as '{app=\"web\"}'")
        parse_selector(value)  # raises with the position of the problem
        return value

    @field_validator("action", mode="before")
    @classmethod
    def _default_action(cls, value: object) -> object:
        return "keep" if value == "" else value  # Promtail reads an empty action as keep

    @field_validator("pipeline_name")
    @classmethod
    def _name_not_empty(cls, value: str | None) -> str | None:
        if value == "":
            raise ValueError("pipeline_name can be left out but cannot be empty")
        return value

    @field_validator("drop_counter_reason")
    @classmethod
    def _default_reason(cls, value: str) -> str:
        return value or "match_stage"

    @model_validator(mode="after")
    def _stages_fit_action(self) -> MatchConfig:
        if self.action == "keep" and not self.stages:
            raise ValueError("action keep needs at least one stage in 'stages'")
        if self.action == "drop" and self.stages:
            raise ValueError("action drop cannot have 'stages'")
        return self


class MatchStage:
    """`match`: run `stages` on entries the selector matches, or drop them.

    ```yaml
    - match:
        selector: '{app="loki"}'
        stages:
          - json:
              expressions:
                msg: message
    - match:
        selector: '{app="promtail"} |~ ".*noisy error.*"'
        action: drop
        drop_counter_reason: promtail_noisy_error
    ```
    """

    name: ClassVar[str] = "match"
    Config: ClassVar[type[MatchConfig]] = MatchConfig
    nested_stages_field: ClassVar[str] = "stages"

    __slots__ = (
        "_children",
        "_ctx",
        "_delayers",
        "_drop",
        "_flat",
        "_holding",
        "_matches",
        "_reason",
        "_selector",
        "_timed",
        "delay_for",
        "flush",
        "flush_all",
        "holds_entries",
        "mutates_labels",
        "next_deadline",
        "pipeline_name",
    )

    # Present on an instance only when a child needs them (see the module docstring).
    delay_for: Callable[[LogEntry], float]
    flush: Callable[[int], list[LogEntry]]
    flush_all: Callable[[], list[LogEntry]]
    next_deadline: Callable[[], float | None]

    def __init__(self, config: MatchConfig, ctx: StageContext, children: Sequence[Stage] = ()) -> None:
        self._selector: Selector = parse_selector(config.selector)
        self._matches = self._selector.predicate
        self._ctx = ctx
        self._drop = config.action == "drop"
        self._reason = config.drop_counter_reason
        self._children = tuple(children)
        # Promtail names the nested pipeline "<job>_<pipeline_name>" (a label of its duration histogram).
        self.pipeline_name = f"{ctx.job_name}_{config.pipeline_name}" if config.pipeline_name else None
        self._holding = tuple(bool(getattr(c, "holds_entries", False)) for c in self._children)
        self.holds_entries = any(self._holding)
        self.mutates_labels = any(getattr(c, "mutates_labels", False) for c in self._children)
        self._timed = tuple(
            (i, cast(_TimedStage, c)) for i, c in enumerate(self._children) if hasattr(c, "next_deadline")
        )
        self._delayers: tuple[Callable[[LogEntry], float], ...] = tuple(
            c.delay_for for c in self._children if hasattr(c, "delay_for")
        )
        if self._timed:
            self.flush = self._flush
            self.next_deadline = self._next_deadline
        if self.holds_entries or self._timed:
            self.flush_all = self._flush_all
        if self._delayers:
            self.delay_for = self._delay_for
        self._flat: Callable[[LogEntry], LogEntry | None] = self._compile_run()

    def process(self, entry: LogEntry) -> LogEntry | None:
        if not self._matches(entry.labels, entry.line):
            return entry
        if self._drop:
            self._ctx.count_drop(self._reason, entry)
            return None
        return self._flat(entry)

    def _compile_run(self) -> Callable[[LogEntry], LogEntry | None]:
        """`_run(entry, 0)` as one generated function, with nested `match` selectors inlined.

        Event pipelines are trees of `match` stages, and most of a line's time went into calling each
        nested `match` (its `process`, then its selector) only to learn that it does not apply. Here a
        nested keep-`match` is an `if` on its selector's expression (`Selector.inline`), and on a match a
        direct call of its own generated function; other children are called as before. Stages that hold
        entries keep `_run` (it acknowledges their children's drops).
        """
        if self.holds_entries:
            return lambda entry: self._run(entry, 0)
        names: dict[str, object] = {}
        body: list[str] = []
        fresh = False  # `labels` and `line` hold the entry's current values
        for index, child in enumerate(self._children):
            if type(child) is MatchStage and not child._drop:
                if not fresh:
                    body.append("    labels = entry.labels\n    line = entry.line")
                condition, used = child._selector.inline(f"s{index}_")
                names.update(used)
                names[f"r{index}"] = child._flat
                body.append(
                    f"    if {condition}:\n"
                    f"        entry = r{index}(entry)\n"
                    "        if entry is None:\n"
                    "            return None\n"
                    "        labels = entry.labels\n"
                    "        line = entry.line"
                )
                fresh = True
            else:
                names[f"p{index}"] = child.process
                body.append(f"    entry = p{index}(entry)\n    if entry is None:\n        return None")
                fresh = False
        body.append("    return entry")
        source = "def run(entry):\n" + "\n".join(body) + "\n"
        exec(source, names)  # generated from the fixed templates above; every value is a bound name
        return names["run"]  # type: ignore[return-value]

    def _run(self, entry: LogEntry, start: int) -> LogEntry | None:
        children = self._children
        current = entry
        for index in range(start, len(children)):
            result = children[index].process(current)
            if result is None:
                # The pipeline acknowledges what a stage consumed only when that stage does not hold
                # entries; once this stage holds (a child does), it acknowledges its children's drops.
                if self.holds_entries and not self._holding[index]:
                    current.checkpoint.ack(self._ctx.fanout)
                return None
            current = result
        return current

    def _flush(self, now_ns: int) -> list[LogEntry]:
        out: list[LogEntry] = []
        for index, child in self._timed:
            for released in child.flush(now_ns):
                result = self._run(released, index + 1)
                if result is not None:
                    out.append(result)
        return out

    def _next_deadline(self) -> float | None:
        deadlines = [d for _, child in self._timed if (d := child.next_deadline()) is not None]
        return min(deadlines) if deadlines else None

    def _flush_all(self) -> list[LogEntry]:
        # In order: what a child releases may be held again by a later child, which then releases it too.
        out: list[LogEntry] = []
        for index, child in enumerate(self._children):
            flush_all = getattr(child, "flush_all", None)
            if flush_all is None:
                continue
            for released in flush_all():
                result = self._run(released, index + 1)
                if result is not None:
                    out.append(result)
        return out

    def _delay_for(self, entry: LogEntry) -> float:
        # Asked before `process`, so earlier children have not run yet: the selector decides, as it will.
        if not self._selector.matches(entry.labels, entry.line):
            return 0.0
        return max(delay(entry) for delay in self._delayers)
