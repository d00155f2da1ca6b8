"""The stage contract. Every `pipeline_stages` item becomes one object with a tiny `process` method.

A stage class declares:

- `name`: the YAML key (``regex``, ``json``, ...);
- `Config`: its pydantic config model (a `agent.config.base.ConfigModel`); validation and compilation
  (regexes, templates, JMESPath, time layouts) happen there or in `__init__`, never per line;
- `process(entry) -> LogEntry | None`: mutate the entry and return it, or return None when the entry is
  consumed for good (dropped: the stage has already counted it with its reason).

Optional class attributes, read by `agent.pipeline`:

- `mutates_labels = True` when the stage may change `entry.labels` (the pipeline then gives each entry its
  own label dict before the stage runs; stages may then mutate `entry.labels` in place);
- `holds_entries = True` for stages that keep entries back (multiline, cri partial lines). Such a stage
  returns None for an entry it holds or merged; it must call `entry.checkpoint.ack(ctx.fanout)` itself for
  an entry it merged into another (the merged-into entry carries on), and return held entries later
  from `process` or from `flush(now_ns)`;
- `flush(now_ns: int) -> list[LogEntry]` (`now_ns` is wall-clock `time.time_ns()`) and
  `next_deadline() -> float | None` (a `time.monotonic()` value) for stages that release held entries on a
  timer; `flush_all() -> list[LogEntry]` at shutdown.
- `delay_for(entry) -> float`: seconds to wait before `process(entry)` (0.0: go), for stages that apply
  backpressure (`limit` without `drop`). It has no side effects; the pipeline asks again after waiting.
- `makes_extracted = True` (a class attribute or property) when the stage, run first, sets `entry.extracted`
  itself whenever it is None, to the labels plus what it adds: the pipeline then leaves it None instead of
  copying the labels into it first;
- `nested_stages_field`: the config field holding nested stage lists (``match`` has ``stages``).

`process` never raises on bad data: a line that does not parse is left as it is and counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from agent.model import LogEntry
    from agent.server.metrics import Metrics


class Stage(Protocol):
    name: ClassVar[str]

    def process(self, entry: LogEntry) -> LogEntry | None: ...


@dataclass
class StageContext:
    """What a stage may need besides its config, handed to its constructor.

    - `job_name`: the scrape config's job (label values of stage metrics, messages).
    - `metrics`: where to count drops (`metrics.dropped_entries.labels(host="", reason=..., tenant="")`).
    - `fanout`: how many acknowledgements each entry's checkpoint expects (one per client).
    - `build_stages`: turns a nested, already validated stage list into stage objects (for `match`).
    - `now_ns`: the clock, injectable for tests.
    """

    job_name: str
    metrics: Metrics
    fanout: int = 1
    build_stages: Callable[[list[Any], str], list[Stage]] | None = None
    now_ns: Callable[[], int] = time.time_ns

    def count_drop(self, reason: str, entry: LogEntry) -> None:
        """Count a dropped entry as Promtail does: `promtail_dropped_entries_total` and the stage counter."""
        self.metrics.dropped_entries.labels(host="", reason=reason, tenant="").inc()
        self.metrics.dropped_bytes.labels(host="", reason=reason, tenant="").inc(len(entry.line))
        self.metrics.stage_dropped.labels(reason=reason).inc()

    def error_counter(self, reason: str) -> Any:
        """The `errors` counter a stage increments when it leaves a bad entry as it is, for `reason`."""
        return self.metrics.errors.labels(component="stage", reason=reason)


def ensure_extracted(entry: LogEntry) -> dict[str, Any]:
    """The entry's extracted map, made from its labels on first use (Promtail shows labels as extracted values)."""
    extracted = entry.extracted
    if extracted is None:
        extracted = entry.extracted = dict(entry.labels)
    return extracted
