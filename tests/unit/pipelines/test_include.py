"""`- include: NAME|PATH` in pipeline_stages: resolution at load time, and errors that name the YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config.loader import load_config
from agent.errors import ConfigError
from agent.model import LogEntry, untracked_checkpoint
from agent.pipeline import Pipeline
from agent.server.metrics import Metrics
from agent.stages.base import StageContext
from agent.stages.registry import build_stages


def _config(directory: Path, stages: str) -> str:
    path = directory / "config.yaml"
    path.write_text(f"scrape_configs:\n  - job_name: app\n    pipeline_stages:\n{stages}")
    return str(path)


def _problems(path: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(problem) for problem in caught.value.problems]


class TestInclude:
    def test_bundled_name_resolves_to_its_stages(self, tmp_path: Path) -> None:
        """`include: security` becomes one include spec whose children are the bundled file's stages."""
        loaded = load_config(_config(tmp_path, "      - include: security\n"))
        (spec,) = loaded.pipelines["app"]
        assert spec.name == "include"
        assert spec.config.origin == "pipelines/security.yaml"
        assert len(spec.children) > 5

    def test_user_file_is_relative_to_the_config_and_runs(self, tmp_path: Path) -> None:
        """A path is read relative to the config file's directory and its stages run in place of the item."""
        (tmp_path / "stages").mkdir()
        (tmp_path / "stages" / "mine.yaml").write_text("pipeline_stages:\n  - static_labels: {team: a}\n")
        loaded = load_config(_config(tmp_path, "      - include: ./stages/mine.yaml\n"))
        stages = build_stages(loaded.pipelines["app"], StageContext("app", Metrics()))
        pipeline = Pipeline(stages, fanout=1, name="app", metrics=Metrics())
        (entry,) = pipeline.process([LogEntry(1, "x", {"job": "app"}, untracked_checkpoint())])
        assert entry.labels == {"job": "app", "team": "a"}
        assert stages[0].inspect_name == "include ./stages/mine.yaml"  # type: ignore[attr-defined]

    def test_unknown_name_suggests_the_closest(self, tmp_path: Path) -> None:
        """A misspelt name gets a "did you mean" and the list of bundled pipelines."""
        assert _problems(_config(tmp_path, "      - include: securty\n")) == [
            "scrape_configs[0].pipeline_stages[0].include: unknown pipeline 'securty' (did you mean 'security'?); "
            "bundled pipelines are business, performance, security, and a file is included by its path "
            "(./my-stages.yaml)"
        ]

    def test_missing_file(self, tmp_path: Path) -> None:
        """A path to no file says which file was looked for and where relative paths start."""
        assert _problems(_config(tmp_path, "      - include: ./nope.yaml\n")) == [
            f"scrape_configs[0].pipeline_stages[0].include: pipeline file {tmp_path}/nope.yaml does not exist "
            f"(relative paths start from {tmp_path})"
        ]

    def test_bad_stage_inside_names_the_included_file(self, tmp_path: Path) -> None:
        """A problem inside an included file carries the include's path, the file, and the path inside it."""
        stages = "pipeline_stages:\n  - static_labels: {x: y}\n  - regexx: {expression: a}\n"
        (tmp_path / "mine.yaml").write_text(stages)
        assert _problems(_config(tmp_path, "      - static_labels: {a: b}\n      - include: mine.yaml\n")) == [
            f"scrape_configs[0].pipeline_stages[1].include({tmp_path}/mine.yaml).pipeline_stages[1].regexx: "
            "unknown stage 'regexx' (did you mean 'regex'?)"
        ]

    def test_cycle_is_refused(self, tmp_path: Path) -> None:
        """A file that includes itself, through another, is reported once with the chain."""
        (tmp_path / "a.yaml").write_text("pipeline_stages:\n  - include: ./b.yaml\n")
        (tmp_path / "b.yaml").write_text("pipeline_stages:\n  - include: ./a.yaml\n")
        a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
        assert _problems(_config(tmp_path, "      - include: ./a.yaml\n")) == [
            f"scrape_configs[0].pipeline_stages[0].include({a}).pipeline_stages[0].include({b})"
            f".pipeline_stages[0].include: include cycle: {a} -> {b} -> {a}"
        ]

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            pytest.param("description: x\n", "unknown key 'description'", id="no-pipeline-stages"),
            pytest.param("pipeline_stages: []\npipeline_stage: []\n", "unknown key 'pipeline_stage'", id="typo-key"),
        ],
    )
    def test_not_a_pipeline_file(self, tmp_path: Path, text: str, message: str) -> None:
        """A file without exactly `pipeline_stages` is refused at its own path."""
        (tmp_path / "p.yaml").write_text(text)
        problems = _problems(_config(tmp_path, "      - include: ./p.yaml\n"))
        assert any(message in p and f"include({tmp_path}/p.yaml)" in p for p in problems), problems

    def test_include_inside_match_resolves(self, tmp_path: Path) -> None:
        """An include nested in a match stage's stages is resolved relative to the same directory."""
        (tmp_path / "mine.yaml").write_text("pipeline_stages:\n  - static_labels: {team: a}\n")
        stages = (
            "      - match:\n          selector: '{job=\"app\"}'\n"
            "          stages:\n            - include: ./mine.yaml\n"
        )
        (spec,) = load_config(_config(tmp_path, stages)).pipelines["app"]
        assert spec.children[0].name == "include"
        assert spec.children[0].children[0].name == "static_labels"
