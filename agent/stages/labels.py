"""Label stages: `labels`, `static_labels`, `labelallow`, `labeldrop`, `structured_metadata`, `tenant`, `pack`.

They move values between the extracted map, the stream labels and the entry's structured metadata, as
Promtail's stages of the same names do. Every one of them may change `entry.labels` (`mutates_labels`): the
pipeline has given the entry its own label dict before their `process` runs. `labels`, `static_labels`,
`labeldrop` and `labelallow` also offer `process_shared`, which the pipeline calls instead while entries
still share their source's label dict: it leaves that dict alone and gives the entry a dict shared by every
entry with the same input dict and the same result (`_Derived`), which nobody may mutate. They do not parse
lines (`agent.stages.parse`) or rewrite them, except `pack`, which wraps the line in JSON.

Extracted values become label values as Promtail's `getString` makes them (`agent.stages.parse.go_string`):
strings as they are, numbers in Go's shortest form, booleans as ``true``/``false``; null and values that are
not valid UTF-8 are skipped.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, ClassVar

from pydantic import RootModel, field_validator, model_validator

from agent.config.base import ConfigModel
from agent.model import TENANT_LABEL, Labels, LogEntry
from agent.stages.base import StageContext
from agent.stages.values import LABEL_NAME, go_json_string, go_string, label_value

"""The reserved label a `tenant` stage sets (Promtail's name); `agent.client.batch` reads it and drops it."""

_MISSING: Any = object()
_DERIVED_LIMIT = 4096  # derived label dicts a stage keeps; past that it starts over (a label with many values)


class _Derived:
    """Label dicts a stage derived from shared ones, by input dict (its identity) and what the stage changed.

    Entries of one stream share their label dict, so the stage computes each result once and every entry with
    the same input and change gets the same dict: no copy per entry, and stages after it and the client see
    one dict per stream. Each input's results sit in a dict of their own, and the last input's are kept at
    hand (`last_input`, `last_results`): runs of one stream then cost one lookup by change, with no key tuple
    to build. Each item holds its input dict, so no other dict can take that id while it is kept.
    """

    __slots__ = ("_count", "_items", "last_input", "last_results")

    def __init__(self) -> None:
        self._items: dict[int, tuple[Labels, dict[object, Labels]]] = {}
        self._count = 0
        self.last_input: Labels | None = None
        self.last_results: dict[object, Labels] = {}

    def results(self, labels: Labels) -> dict[object, Labels]:
        """The results derived from `labels` so far, by change; they become `last_results`."""
        item = self._items.get(id(labels))
        if item is None:
            if self._count >= _DERIVED_LIMIT:
                self._items.clear()
                self._count = 0
            item = self._items[id(labels)] = (labels, {})
            self._count += 1
        self.last_input = labels
        self.last_results = item[1]
        return item[1]

    def get(self, labels: Labels, change: object) -> Labels | None:
        results = self.last_results if labels is self.last_input else self.results(labels)
        return results.get(change)

    def put(self, labels: Labels, change: object, derived: Labels) -> Labels:
        results = self.results(labels)
        if self._count >= _DERIVED_LIMIT:
            self._items.clear()
            self._count = 0
            results = self.results(labels)
        results[change] = derived
        self._count += 1
        return derived


def _no_values(extracted: dict[str, Any]) -> Any:
    raise KeyError("no labels configured")  # `labels: {}`: the slow path, which changes nothing


def _check_label_names(mapping: dict[str, str | None]) -> dict[str, str | None]:
    for name in mapping:
        if not LABEL_NAME.match(name):
            raise ValueError(f"invalid label name: {name}")
    return mapping


def _pairs(mapping: dict[str, str | None]) -> tuple[tuple[str, str], ...]:
    """(label name, extracted key) pairs; an empty key means the label's own name."""
    return tuple((name, source or name) for name, source in mapping.items())


class LabelMapConfig(RootModel[dict[str, str | None]]):
    """``label_name: extracted_key`` pairs (an empty key: the same name), as `labels` and `structured_metadata` take."""

    @field_validator("root")
    @classmethod
    def _names(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        return _check_label_names(value)


class LabelsStage:
    """`labels`: set labels from extracted values.

    ```yaml
    - labels:
        level:            # label `level` from extracted `level`
        app: service_name # label `app` from extracted `service_name`
    ```
    """

    name: ClassVar[str] = "labels"
    mutates_labels: ClassVar[bool] = True
    Config: ClassVar[type[LabelMapConfig]] = LabelMapConfig
    __slots__ = ("_derived", "_pairs", "_single", "_values")

    def __init__(self, config: LabelMapConfig, ctx: StageContext) -> None:
        self._pairs = _pairs(config.root)
        self._single = len(self._pairs) == 1
        # The value (one label) or the tuple of values (several) of the extracted keys; KeyError if one is missing.
        self._values = itemgetter(*(source for _, source in self._pairs)) if self._pairs else _no_values
        self._derived = _Derived()

    def process(self, entry: LogEntry) -> LogEntry | None:
        extracted = entry.extracted
        if extracted is None:
            return entry
        labels = entry.labels
        for name, source in self._pairs:
            value = extracted.get(source, _MISSING)
            if value is _MISSING:
                continue
            if value.__class__ is str and value.isascii():
                labels[name] = value
            elif (text := label_value(value)) is not None:
                labels[name] = text
        return entry

    def process_shared(self, entry: LogEntry) -> LogEntry | None:
        """`process` for an entry whose labels may be shared: replace them with the shared result.

        What the stage changes (the key of its results) is the label value when it sets one label, else the
        tuple of label values, None where a value makes no label.
        """
        extracted = entry.extracted
        if extracted is None:
            return entry
        # The common case first: every value present and an ASCII string, so each is its label value as it
        # is, checked in C (`itemgetter`, `join` refuses non-strings); 5.2k -> 2.6k instructions per entry.
        try:
            change = self._values(extracted)
            plain = change.isascii() if self._single else "".join(change).isascii()
        except (KeyError, TypeError, AttributeError):
            plain = False
        if not plain or (self._single and change.__class__ is not str):
            change = self._change(extracted)
            if change is None:
                return entry
        derived = self._derived
        results = derived.last_results if entry.labels is derived.last_input else derived.results(entry.labels)
        labels = results.get(change)
        if labels is None:
            labels = dict(entry.labels)
            texts = (change,) if self._single else change
            for (name, _), text in zip(self._pairs, texts, strict=True):
                if text is not None:
                    labels[name] = text
            derived.put(entry.labels, change, labels)
        entry.labels = labels
        return entry

    def _change(self, extracted: dict[str, Any]) -> object:
        """`process_shared`'s key for any values; None when no value makes a label."""
        texts: list[str | None] = []
        for _, source in self._pairs:
            value = extracted.get(source, _MISSING)
            if value is _MISSING:
                texts.append(None)
            elif value.__class__ is str and value.isascii():
                texts.append(value)
            else:
                texts.append(label_value(value))
        if texts.count(None) == len(texts):
            return None
        return texts[0] if self._single else tuple(texts)


class StaticLabelsConfig(RootModel[dict[str, str | None]]):
    """``label_name: value`` pairs; a pair without a value is ignored, as in Promtail."""

    @field_validator("root")
    @classmethod
    def _names(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        return _check_label_names(value)


class StaticLabelsStage:
    """`static_labels`: add fixed labels.

    ```yaml
    - static_labels:
        env: production
    ```
    """

    name: ClassVar[str] = "static_labels"
    mutates_labels: ClassVar[bool] = True
    Config: ClassVar[type[StaticLabelsConfig]] = StaticLabelsConfig
    __slots__ = ("_derived", "_labels")

    def __init__(self, config: StaticLabelsConfig, ctx: StageContext) -> None:
        self._labels = {name: value for name, value in config.root.items() if value and label_value(value) is not None}
        self._derived = _Derived()

    def process(self, entry: LogEntry) -> LogEntry | None:
        entry.labels.update(self._labels)
        return entry

    def process_shared(self, entry: LogEntry) -> LogEntry | None:
        """`process` for an entry whose labels may be shared: replace them with the shared result."""
        labels = entry.labels
        derived = self._derived.get(labels, None)
        if derived is None:
            derived = self._derived.put(labels, None, {**labels, **self._labels})
        entry.labels = derived
        return entry


class LabelListConfig(RootModel[list[str]]):
    """A list of label names, as `labelallow` and `labeldrop` take."""


class LabelAllowStage:
    """`labelallow`: keep only the listed labels.

    ```yaml
    - labelallow: [namespace, pod, container]
    ```
    """

    name: ClassVar[str] = "labelallow"
    mutates_labels: ClassVar[bool] = True
    Config: ClassVar[type[LabelListConfig]] = LabelListConfig
    __slots__ = ("_allow", "_derived")

    def __init__(self, config: LabelListConfig, ctx: StageContext) -> None:
        self._allow = frozenset(config.root)
        self._derived = _Derived()

    def process(self, entry: LogEntry) -> LogEntry | None:
        labels = entry.labels
        allow = self._allow
        if not labels.keys() <= allow:
            entry.labels = {name: value for name, value in labels.items() if name in allow}
        return entry

    def process_shared(self, entry: LogEntry) -> LogEntry | None:
        """`process` for an entry whose labels may be shared: replace them with the shared result."""
        labels = entry.labels
        derived = self._derived.get(labels, None)
        if derived is None:
            allow = self._allow
            derived = self._derived.put(labels, None, {name: value for name, value in labels.items() if name in allow})
        entry.labels = derived
        return entry


class LabelDropStage:
    """`labeldrop`: remove the listed labels.

    ```yaml
    - labeldrop: [filename, pod_template_hash]
    ```
    """

    name: ClassVar[str] = "labeldrop"
    mutates_labels: ClassVar[bool] = True
    Config: ClassVar[type[LabelListConfig]] = LabelListConfig
    __slots__ = ("_derived", "_drop")

    def __init__(self, config: LabelListConfig, ctx: StageContext) -> None:
        self._drop = tuple(dict.fromkeys(config.root))
        self._derived = _Derived()

    def process(self, entry: LogEntry) -> LogEntry | None:
        labels = entry.labels
        for name in self._drop:
            if name in labels:
                del labels[name]
        return entry

    def process_shared(self, entry: LogEntry) -> LogEntry | None:
        """`process` for an entry whose labels may be shared: replace them with the shared result."""
        labels = entry.labels
        derived = self._derived.get(labels, None)
        if derived is None:
            drop = self._drop
            derived = self._derived.put(
                labels, None, {name: value for name, value in labels.items() if name not in drop}
            )
        entry.labels = derived
        return entry


class StructuredMetadataStage:
    """`structured_metadata`: attach extracted values, or labels (which are then removed), as metadata.

    ```yaml
    - structured_metadata:
        trace_id:           # from extracted `trace_id`
        pod_uid:            # a label `pod_uid` moves from the stream labels to the metadata
    ```

    As in Promtail, a name found among the labels takes the label's value and the label is removed, so a
    high-cardinality label set by relabeling stays out of the stream.
    """

    name: ClassVar[str] = "structured_metadata"
    mutates_labels: ClassVar[bool] = True
    Config: ClassVar[type[LabelMapConfig]] = LabelMapConfig
    __slots__ = ("_pairs", "_sources")

    def __init__(self, config: LabelMapConfig, ctx: StageContext) -> None:
        self._pairs = _pairs(config.root)
        self._sources = tuple(dict.fromkeys(source for _, source in self._pairs))

    def process(self, entry: LogEntry) -> LogEntry | None:
        metadata = entry.metadata
        extracted = entry.extracted or {}
        labels = entry.labels
        for name, source in self._pairs:
            value = extracted.get(source, _MISSING)
            if value is not _MISSING and (text := label_value(value)) is not None:
                if metadata is None:
                    metadata = entry.metadata = {}
                metadata[name] = text
            if source in labels:
                if metadata is None:
                    metadata = entry.metadata = {}
                metadata[name] = labels[source]
        for source in self._sources:
            if source in labels:
                del labels[source]
        return entry


class NonIndexedLabelsStage(StructuredMetadataStage):
    """`non_indexed_labels`: the former name of `structured_metadata`, still accepted by Promtail."""

    name: ClassVar[str] = "non_indexed_labels"
    __slots__ = ()


class TenantStage:
    """`tenant`: send the entry to another tenant, from a label, an extracted value or a fixed value.

    ```yaml
    - tenant:
        source: customer_id   # or `label: namespace`, or `value: team-a` (exactly one)
    ```

    An empty or missing tenant leaves the entry's tenant as it was (the client's `tenant_id` by default).
    """

    name: ClassVar[str] = "tenant"
    mutates_labels: ClassVar[bool] = True
    __slots__ = ("_label", "_source", "_value")

    class Config(ConfigModel):
        label: str | None = None
        source: str | None = None
        value: str | None = None

        @model_validator(mode="after")
        def _exactly_one(self) -> TenantStage.Config:
            given = [key for key in (self.label, self.source, self.value) if key]
            if not given:
                raise ValueError("label, source or value config are required")
            if len(given) > 1:
                raise ValueError("label, source and value are mutually exclusive: set only one of them")
            return self

    def __init__(self, config: Config, ctx: StageContext) -> None:
        self._label = config.label or None
        self._source = config.source or None
        self._value = config.value or None

    def process(self, entry: LogEntry) -> LogEntry | None:
        if self._source is not None:
            extracted = entry.extracted or {}
            tenant = go_string(extracted[self._source]) if self._source in extracted else None
        elif self._label is not None:
            tenant = entry.labels.get(self._label)
        else:
            tenant = self._value
        if tenant:
            entry.labels[TENANT_LABEL] = tenant
        return entry


class PackStage:
    """`pack`: wrap the line in JSON with the named extracted values (labels included), removing those labels.

    ```yaml
    - pack:
        labels: [container, pod]
        ingest_timestamp: true   # default: the entry's timestamp becomes the time it was packed
    ```

    The line becomes ``{"container":"app","pod":"p-1","_entry":"original line"}``: keys sorted, the original
    line last under `_entry`, escaped as Go escapes JSON (``<`` as ``\\u003c``). LogQL's `| unpack` reverses it.
    """

    name: ClassVar[str] = "pack"
    mutates_labels: ClassVar[bool] = True
    __slots__ = ("_ingest", "_keys", "_now_ns")

    class Config(ConfigModel):
        labels: list[str] = []
        ingest_timestamp: bool = True

    def __init__(self, config: Config, ctx: StageContext) -> None:
        self._keys = tuple((name, go_json_string(name) + ":") for name in sorted(set(config.labels)))
        self._ingest = config.ingest_timestamp
        self._now_ns = ctx.now_ns

    def process(self, entry: LogEntry) -> LogEntry | None:
        extracted = entry.extracted or {}
        parts: list[str] = []
        packed: list[str] = []
        for name, key in self._keys:
            value = extracted.get(name, _MISSING)
            if value is _MISSING or (text := go_string(value)) is None:
                continue
            parts.append(key + go_json_string(text))
            packed.append(name)
        parts.append('"_entry":' + go_json_string(entry.line))
        entry.line = "{" + ",".join(parts) + "}"
        labels = entry.labels
        for name in packed:
            labels.pop(name, None)
        if self._ingest:
            entry.timestamp = self._now_ns()
        return entry
