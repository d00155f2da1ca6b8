"""Resolve `- include: NAME` and `- include: PATH` items of `pipeline_stages` to the stage list they name.

A name (``security``, ``performance``, ``business``) is a pipeline bundled with the agent (the top-level
`pipelines/` folder of the source tree, shipped inside the package); a path (it contains a ``/`` or ends in
``.yaml``/``.yml``) is the user's own file, relative to the file that includes it (the config file, or the
including pipeline file). A pipeline file is YAML with one key, `pipeline_stages`, holding the stages exactly
as a scrape config would, so a bundled pipeline can be copied into a config as it is.

This module reads and parses the files and reports what is wrong with the include itself (unknown name,
missing or unreadable file, not a pipeline file, a cycle), each problem at its YAML path. Validating the
stages inside is the stage registry's job: it calls `resolve_include` and validates what comes back under
the path this module gives it, such as
``scrape_configs[0].pipeline_stages[2].include(./mine.yaml).pipeline_stages[0].regex.expression``.
Environment variables are not expanded in included files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from agent.config import yamlio
from agent.config.problems import describe_value, suggest
from agent.errors import ConfigError, ConfigProblem

BUNDLED_DIR = "pipelines"  # inside the `agent` package; packaging copies the top-level pipelines/ there
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_NOT_PIPELINES = frozenset({"vocabulary"})


def bundled_pipelines() -> Traversable:
    """The folder of bundled pipeline files (and the event vocabulary)."""
    return resources.files("agent").joinpath(BUNDLED_DIR)


def bundled_names() -> list[str]:
    """Names of the bundled pipelines, sorted."""
    names = (item.name.removesuffix(".yaml") for item in bundled_pipelines().iterdir() if item.name.endswith(".yaml"))
    return sorted(name for name in names if name not in _NOT_PIPELINES)


@dataclass(frozen=True)
class ResolvedInclude:
    """What an include item names.

    - `name`: as written (``security``, ``./mine.yaml``);
    - `origin`: the file, as shown in YAML paths (``pipelines/security.yaml``, or the user's path resolved);
    - `path`: the YAML path under which the file's stages are validated;
    - `stages`: the file's raw `pipeline_stages` list;
    - `base_dir`: where includes inside the file resolve from;
    - `key`: the file's identity, for cycle detection.
    """

    name: str
    origin: str
    path: str
    stages: object
    base_dir: str
    key: str


def is_path(reference: str) -> bool:
    """Whether an include names a file (as opposed to a bundled pipeline)."""
    return "/" in reference or reference.endswith((".yaml", ".yml"))


def resolve_include(
    body: object, path: str, base_dir: str, including: tuple[str, ...] = ()
) -> tuple[ResolvedInclude | None, list[ConfigProblem]]:
    """Resolve the include item at YAML `path` whose value is `body`; `including` lists the files above it."""
    if not isinstance(body, str) or not body.strip():
        names = ", ".join(bundled_names())
        message = f"include takes a bundled pipeline name ({names}) or a file path such as ./my-stages.yaml"
        return None, [ConfigProblem(path, f"{message}, got {describe_value(body)}")]
    reference = body.strip()
    if is_path(reference):
        file = Path(base_dir, os.path.expanduser(reference)).resolve()
        origin, key = str(file), str(file)
        try:
            text = file.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            reason = f"pipeline file {file} does not exist (relative paths start from {base_dir})"
            return None, [ConfigProblem(path, reason)]
        except IsADirectoryError:
            return None, [ConfigProblem(path, f"{file} is a directory; include a pipeline file (YAML)")]
        except (OSError, UnicodeDecodeError) as exc:
            reason = f"cannot read pipeline file {file}: {getattr(exc, 'strerror', None) or exc}"
            return None, [ConfigProblem(path, reason)]
        file_dir = str(file.parent)
    else:
        bundled = bundled_names()
        if reference not in bundled:
            hint = suggest(reference, bundled) if _NAME.match(reference) else ""
            message = (
                f"unknown pipeline {reference!r}{hint}; bundled pipelines are {', '.join(bundled)}, "
                "and a file is included by its path (./my-stages.yaml)"
            )
            return None, [ConfigProblem(path, message)]
        resource = bundled_pipelines().joinpath(f"{reference}.yaml")
        text = resource.read_text(encoding="utf-8")
        origin, key = f"{BUNDLED_DIR}/{reference}.yaml", f"bundled:{reference}"
        file_dir = str(resource.parent) if isinstance(resource, Path) else base_dir
    here = f"{path}({origin})"
    if key in including:
        chain = " -> ".join([*including[including.index(key) :], key]).replace("bundled:", "")
        return None, [ConfigProblem(path, f"include cycle: {chain}")]
    try:
        document = yamlio.parse(text, origin)
    except ConfigError as exc:
        return None, [ConfigProblem(_join(here, p.path), p.message) for p in exc.problems]
    problems = [ConfigProblem(_join(here, p.path), p.message) for p in document.duplicate_keys]
    data = document.data
    extra = [str(k) for k in data if k != "pipeline_stages"]
    for unknown in extra:
        hint = suggest(unknown, ["pipeline_stages"])
        message = f"unknown key {unknown!r}{hint}; a pipeline file has only pipeline_stages"
        problems.append(ConfigProblem(_join(here, unknown), message))
    if "pipeline_stages" not in data:
        problems.append(ConfigProblem(here, "a pipeline file needs a pipeline_stages list"))
    if problems:
        return None, problems
    return ResolvedInclude(reference, origin, f"{here}.pipeline_stages", data["pipeline_stages"], file_dir, key), []


def _join(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if path else prefix
