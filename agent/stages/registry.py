"""Which stage a `pipeline_stages` item names, its validation, and building stage objects from it.

Promtail's stage items are one-key mappings (``- regex: {expression: ...}``). `validate_stages` checks the
key names a known stage (suggesting the closest name for a typo), validates the body against that stage's
`Config` model, recurses into nested stage lists (`match.stages`), and reports every problem with its YAML
path. `build_stages` turns the validated specs into stage objects once, at startup.
"""

from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from agent.config.include import resolve_include
from agent.config.problems import problems_from, suggest
from agent.errors import ConfigError, ConfigProblem
from agent.stages.base import Stage, StageContext

# One module per family (see the package docstring). Each module's stage classes carry `name` and `Config`.
_FAMILIES = (
    "parse",
    "container",
    "labels",
    "rewrite",
    "timestamp",
    "template",
    "filter",
    "route",
    "multiline",
    "metrics",
    "geoip",
    "events",
    "include",
)


@dataclass
class StageSpec:
    """A validated stage item: its name, config model instance, YAML path and nested stage specs."""

    name: str
    config: Any
    path: str
    children: list[StageSpec] = field(default_factory=list)


def stage_classes() -> dict[str, type[Any]]:
    """Map each stage name to its class, collected from the family modules."""
    found: dict[str, type[Any]] = {}
    for family in _FAMILIES:
        try:
            module = importlib.import_module(f"agent.stages.{family}")
        except ModuleNotFoundError as exc:
            if exc.name == f"agent.stages.{family}":
                continue  # family not written yet
            raise
        for value in vars(module).values():
            name = getattr(value, "name", None)
            if isinstance(value, type) and isinstance(name, str) and hasattr(value, "Config"):
                found[name] = value
    return found


_CLASSES: dict[str, type[Any]] | None = None


def _classes() -> dict[str, type[Any]]:
    global _CLASSES  # a cache of an immutable import-time table, not state
    if _CLASSES is None:
        _CLASSES = stage_classes()
    return _CLASSES


def validate_stages(
    raw: object,
    path: str,
    warnings: list[ConfigProblem] | None = None,
    *,
    base_dir: str = ".",
    including: tuple[str, ...] = (),
) -> tuple[list[StageSpec], list[ConfigProblem]]:
    """Validate a raw `pipeline_stages` list found at YAML `path`; return the specs and every problem.

    An `include` item is resolved here (`agent.config.include`): its file's stages are validated under the
    include's path and become the include spec's children. `base_dir` is where relative include paths start
    (the directory of the file being read); `including` lists the files above this list, to refuse cycles.

    Promtail decodes stage settings without complaining about keys it does not know, so real configs carry
    such keys (a `template` stage with a `destination`, say). They are ignored here too, and reported in
    `warnings` (with a "did you mean") instead of failing the config.
    """
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [ConfigProblem(path, f"expected a list of stages, got {type(raw).__name__}")]
    classes = _classes()
    specs: list[StageSpec] = []
    problems: list[ConfigProblem] = []
    for index, item in enumerate(raw):
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict) or len(item) != 1:
            keys = ", ".join(map(str, item)) if isinstance(item, dict) else type(item).__name__
            problems.append(
                ConfigProblem(
                    item_path, f"a stage is a mapping with exactly one key (the stage name), got: {keys}"
                )
            )
            continue
        ((name, body),) = item.items()
        stage_path = f"{item_path}.{name}"
        if name == "include":
            resolved, found = resolve_include(body, stage_path, base_dir, including)
            problems.extend(found)
            if resolved is not None:
                children, child_problems = validate_stages(
                    resolved.stages,
                    resolved.path,
                    warnings,
                    base_dir=resolved.base_dir,
                    including=(*including, resolved.key),
                )
                problems.extend(child_problems)
                include = classes["include"].Config(pipeline=resolved.name, origin=resolved.origin)
                specs.append(StageSpec("include", include, stage_path, children))
            continue
        cls = classes.get(str(name))
        if cls is None:
            problems.append(ConfigProblem(stage_path, f"unknown stage {name!r}{suggest(str(name), classes)}"))
            continue
        if body is None:
            body = {}
        model: type[BaseModel] = cls.Config
        try:
            config: BaseModel | None = model.model_validate(body)
        except ValidationError as exc:
            unknown = [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
            config = _validate_without(model, body, unknown) if unknown else None
            if config is None:
                problems.extend(problems_from(exc, model, stage_path))
                continue
            if warnings is not None:
                for problem in problems_from(exc, model, stage_path):
                    warnings.append(ConfigProblem(problem.path, f"{problem.message}, ignored as Promtail does"))
        spec = StageSpec(str(name), config, stage_path)
        nested_field = getattr(cls, "nested_stages_field", None)
        if nested_field:
            children, child_problems = validate_stages(
                getattr(config, nested_field),
                f"{stage_path}.{nested_field}",
                warnings,
                base_dir=base_dir,
                including=including,
            )
            spec.children = children
            problems.extend(child_problems)
        specs.append(spec)
    return specs, problems


def _validate_without(model: type[BaseModel], body: Any, unknown: list[tuple[int | str, ...]]) -> Any:
    """`body` validated with the `unknown` keys removed, or None when it is still invalid."""
    pruned = copy.deepcopy(body)
    for loc in unknown:
        parent = pruned
        for part in loc[:-1]:
            parent = parent[part]
        del parent[loc[-1]]
    try:
        return model.model_validate(pruned)
    except ValidationError:
        return None


def build_stages(specs: list[StageSpec], context: StageContext) -> list[Stage]:
    """Instantiate validated stage specs (and their nested stages) for one pipeline.

    Raises ConfigError naming each failing stage's YAML path.
    """
    classes = _classes()
    stages: list[Stage] = []
    problems: list[ConfigProblem] = []
    for spec in specs:
        cls = classes[spec.name]
        try:
            if getattr(cls, "nested_stages_field", None):
                stages.append(cls(spec.config, context, build_stages(spec.children, context)))
            else:
                stages.append(cls(spec.config, context))
        except ValueError as exc:  # a constructor's check (a metric name clash, an unreadable database)
            problems.append(ConfigProblem(spec.path, str(exc)))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return stages
