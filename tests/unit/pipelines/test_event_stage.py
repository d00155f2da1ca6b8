"""The `event` stage: closed vocabulary at load time, labels, metrics, durations and thresholds."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agent.model import LogEntry, untracked_checkpoint
from agent.server.metrics import Metrics
from agent.stages.events import EventConfig, EventStage


def _stage(metrics: Metrics, **config: Any) -> EventStage:
    return EventStage(EventConfig.model_validate(config), _ctx(metrics))


def _ctx(metrics: Metrics) -> Any:
    from agent.stages.base import StageContext

    return StageContext("web", metrics)


def _entry(extracted: dict[str, Any] | None = None, labels: dict[str, str] | None = None) -> LogEntry:
    return LogEntry(1, "line", dict(labels or {"job": "web"}), untracked_checkpoint(), extracted=extracted or {})


def _count(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


class TestEventConfig:
    @pytest.mark.parametrize(
        ("config", "message"),
        [
            pytest.param({"category": "secrity", "type": "sudo"}, "did you mean 'security'", id="category"),
            pytest.param({"category": "security", "type": "slow_request"}, "not in the event vocabulary", id="type"),
            pytest.param({"category": "security", "type": "sudo", "severity": "high"}, "severity 'high'", id="sev"),
            pytest.param({"category": "business", "type_from": "e", "types": {"sale": ["x"]}}, "'sale'", id="map"),
            pytest.param({"category": "business"}, "exactly one of 'type'", id="no-type"),
            pytest.param(
                {"category": "performance", "type": "slow_request", "slower_than": "1s"}, "need 'duration'", id="dur"
            ),
        ],
    )
    def test_values_outside_the_vocabulary_are_refused(self, config: dict[str, Any], message: str) -> None:
        """Any label value outside pipelines/vocabulary.yaml fails validation, so the config does not load."""
        with pytest.raises(ValidationError, match=message):
            EventConfig.model_validate(config)


class TestEventStage:
    def test_sets_labels_and_counts(self) -> None:
        """A fixed type sets the three labels and increments agent_events_total for the job."""
        metrics = Metrics()
        entry = _stage(metrics, category="security", type="auth_failure", severity="warning").process(_entry())
        assert entry is not None
        assert entry.labels == {
            "job": "web", "event_category": "security", "event_type": "auth_failure", "severity": "warning"
        }
        labels = {"job": "web", "event_category": "security", "event_type": "auth_failure"}
        assert _count(metrics, "agent_events_total", **labels) == 1

    def test_first_event_wins(self) -> None:
        """An entry already labelled as an event keeps its labels and is not counted again."""
        metrics = Metrics()
        labelled = {"job": "web", "event_category": "security", "event_type": "sudo"}
        entry = _stage(metrics, category="security", type="su").process(_entry(labels=labelled))
        assert entry is not None
        assert entry.labels["event_type"] == "sudo"
        assert _count(metrics, "agent_events_total", job="web", event_category="security", event_type="su") == 0

    def test_type_from_maps_app_names(self) -> None:
        """`type_from` looks the app's event name up in `types`; unknown names get no label."""
        metrics = Metrics()
        stage = _stage(
            metrics, category="business", type_from="ev", types={"signup": ["user.signup"]}, severity="info"
        )
        known = stage.process(_entry({"ev": "user.signup"}))
        unknown = stage.process(_entry({"ev": "user.sneeze"}))
        assert known is not None
        assert known.labels["event_type"] == "signup"
        assert unknown is not None
        assert "event_type" not in unknown.labels

    @pytest.mark.parametrize(
        ("value", "unit", "slow"),
        [
            pytest.param("1.5", "s", True, id="seconds"),
            pytest.param("0.5", "s", False, id="fast"),
            pytest.param("1500", "ms", True, id="millis"),
            pytest.param("1500000", "us", True, id="micros"),
            pytest.param("1500ms", "s", True, id="go-duration"),
        ],
    )
    def test_threshold_and_histogram(self, value: str, unit: str, slow: bool) -> None:
        """Every duration is observed; only one above `slower_than` becomes an event, with duration_seconds."""
        metrics = Metrics()
        stage = _stage(
            metrics, category="performance", type="slow_request", duration="t", duration_unit=unit,
            operation="http_request", slower_than="1s",
        )
        entry = stage.process(_entry({"t": value}))
        assert entry is not None
        assert ("event_type" in entry.labels) is slow
        assert _count(metrics, "agent_event_duration_seconds_count", job="web", operation="http_request") == 1
        if slow:
            assert entry.metadata == {"duration_seconds": "1.5"}

    def test_threshold_from_an_extracted_value(self) -> None:
        """An extracted threshold overrides `slower_than` for the entry that carries it."""
        metrics = Metrics()
        stage = _stage(
            metrics, category="performance", type="slow_request", duration="t", slower_than="1s",
            threshold_from="limit",
        )
        entry = stage.process(_entry({"t": "0.4", "limit": "300ms"}))
        assert entry is not None
        assert entry.labels.get("event_type") == "slow_request"

    def test_empty_metadata_values_are_removed(self) -> None:
        """Unmatched optional groups leave "" values; a labelled event sends none of them."""
        entry = _entry()
        entry.metadata = {"user": "bob", "reason": ""}
        result = _stage(Metrics(), category="security", type="sudo").process(entry)
        assert result is not None
        assert result.metadata == {"user": "bob"}
