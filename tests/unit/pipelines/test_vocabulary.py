"""The closed label vocabulary: one source (pipelines/vocabulary.yaml), documented, and never left by a pipeline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from agent.config.include import bundled_names
from agent.stages.events import vocabulary
from agent.stages.registry import StageSpec, validate_stages

ROOT = Path(__file__).resolve().parents[3]
PIPELINES = ROOT / "pipelines"
EVENT_LABELS = frozenset({"event_category", "event_type", "severity"})
LABEL_STAGES = ("labels", "static_labels")


def _specs(name: str) -> list[StageSpec]:
    raw = yaml.safe_load((PIPELINES / f"{name}.yaml").read_text())["pipeline_stages"]
    specs, problems = validate_stages(raw, f"{name}.pipeline_stages", base_dir=str(PIPELINES))
    assert problems == []
    return specs


def _walk(specs: list[StageSpec]) -> list[StageSpec]:
    return [item for spec in specs for item in (spec, *_walk(spec.children))]


def _readme_table(section: str) -> list[str]:
    """The first-column values (in backquotes) of the table under the README heading `section`."""
    text = (PIPELINES / "README.md").read_text()
    body = text.split(f"### {section}\n", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([a-z0-9_]+)` \|", body, re.MULTILINE)[1:]  # [0]: the header


class TestVocabulary:
    def test_bundled_pipelines(self) -> None:
        """The three pipelines the issue asks for ship with the agent."""
        assert bundled_names() == ["business", "performance", "security"]

    @pytest.mark.parametrize("name", ["security", "performance", "business"])
    def test_only_the_event_stage_sets_event_labels(self, name: str) -> None:
        """No `labels`/`static_labels` stage in a pipeline sets an event label (they would bypass the vocabulary)."""
        for spec in _walk(_specs(name)):
            if spec.name in LABEL_STAGES:
                assert not EVENT_LABELS & set(spec.config.root), spec.path

    @pytest.mark.parametrize("name", ["security", "performance", "business"])
    def test_every_event_stage_stays_in_the_vocabulary(self, name: str) -> None:
        """Every category, type and severity an `event` stage can set is in the vocabulary."""
        vocab = vocabulary()
        events = [spec.config for spec in _walk(_specs(name)) if spec.name == "event"]
        assert events, name
        for config in events:
            assert config.category == name
            types = [config.type] if config.type else list(config.types)
            assert set(types) <= set(vocab.event_types[name])
            assert {config.severity, *config.severities.values()} - {None} <= set(vocab.severities)

    def test_readme_documents_exactly_the_vocabulary(self) -> None:
        """pipelines/README.md lists the same types, severities and operations as vocabulary.yaml, in order."""
        vocab = vocabulary()
        for category, types in vocab.event_types.items():
            assert _readme_table(f"{category} event types") == list(types), category
        assert _readme_table("severity") == list(vocab.severities)
        assert _readme_table("operation") == list(vocab.operations)
