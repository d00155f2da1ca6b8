"""Load a Promtail config file: read, expand `${VAR}`, parse YAML, apply flags, validate, report it all at once.

`load_config` is the only way a config enters the agent. It returns a typed `Config`, the validated stage
specs of every job's pipeline, and warnings (targets that are accepted but not run yet, unset environment
variables, files that no target will ever tail, client URLs that no push can succeed with); or it raises
one `ConfigError` that lists every problem, each with its YAML path
(``scrape_configs[0].static_configs[0].labels.__path__: ...``) or flag name (``-client.url: ...``). Order of
work, as in Promtail: environment expansion on the raw text, YAML, then command-line flags over the YAML
values, then validation.

It does not decide whether a config is runnable (a config without any client passes, as Promtail's
`-check-syntax` does: the app decides), build stages, or touch the network. File reads are blocking: the
loader runs before the event loop starts.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ValidationError

from agent.client.config import ClientConfig
from agent.config import envsubst, yamlio
from agent.config.model import UNSUPPORTED_TARGETS, Config, ScrapeConfig
from agent.config.problems import problems_from
from agent.config.units import parse_duration
from agent.errors import ConfigError, ConfigProblem
from agent.stages.registry import StageSpec, validate_stages

if TYPE_CHECKING:
    from agent.flags import Flags

EMBEDDED_SOURCE = "<embedded default>"
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_LOG_LEVELS = ("debug", "info", "warn", "error")


@dataclass(frozen=True)
class Overrides:
    """Promtail's command-line flags that override the YAML (flags win, as in Promtail).

    `client_*` configure the singular `client` block (created when `client_url` is given), which Promtail
    appends to `clients`; `client_external_labels` ("k=v,k2=v2") also reaches every `clients` entry, under
    that entry's own labels. None means "flag not given".
    """

    client_url: str | None = None  # -client.url
    client_tenant_id: str | None = None  # -client.tenant-id
    client_external_labels: str | None = None  # -client.external-labels
    positions_file: str | None = None  # -positions.file
    http_listen_port: int | None = None  # -server.http-listen-port
    log_level: str | None = None  # -log.level

    @classmethod
    def from_flags(cls, flags: Flags) -> Overrides:
        """The overrides a parsed command line asks for."""
        return cls(
            client_url=flags.client_url,
            client_tenant_id=flags.client_tenant_id,
            client_external_labels=flags.client_external_labels,
            positions_file=flags.positions_file,
            http_listen_port=flags.server_http_listen_port,
            log_level=flags.log_level,
        )


@dataclass
class LoadedConfig:
    """A validated config, the validated stage specs of each job (by job name), and the warnings found."""

    config: Config
    warnings: list[ConfigProblem] = field(default_factory=list)
    pipelines: dict[str, list[StageSpec]] = field(default_factory=dict)
    source: str = EMBEDDED_SOURCE


def default_positions_path(environ: Mapping[str, str] | None = None) -> str:
    """Where the embedded default config keeps positions.

    `$AGENT_STATE_DIR` (the agent's own knob), else systemd's `$STATE_DIRECTORY` (its first entry), else
    /var/lib/agent when running as root, else `$XDG_STATE_HOME/agent` (~/.local/state/agent). A user
    config without `positions.filename` keeps Promtail's default, /var/log/positions.yaml, instead.
    """
    env = os.environ if environ is None else environ
    directory = env.get("AGENT_STATE_DIR") or env.get("STATE_DIRECTORY", "").split(":")[0]
    if not directory:
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            directory = "/var/lib/agent"
        else:
            home = env.get("HOME") or str(Path.home())
            directory = os.path.join(env.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state"), "agent")
    return os.path.join(directory, "positions.yaml")


def load_config(
    path: str | None,
    *,
    expand_env: bool = False,
    overrides: Overrides | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Load the config at `path` (None: the embedded default, always env-expanded). Raises ConfigError."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    if path is None:
        source = EMBEDDED_SOURCE
        text = resources.files("agent").joinpath("default_config.yaml").read_text(encoding="utf-8")
        env = {
            **env,
            "HOSTNAME": env.get("HOSTNAME") or socket.gethostname(),
            "AGENT_POSITIONS_FILE": default_positions_path(env),
        }
        expand_env = True
    else:
        source = path
        text = _read(path)

    expansion = envsubst.expand(text, env) if expand_env else None
    if expansion is not None:
        if expansion.errors:
            problems = [ConfigProblem("", f"line {e.line}, column {e.column}: {e.message}") for e in expansion.errors]
            raise ConfigError(problems, source)
        text = expansion.text
    document = yamlio.parse(text, source)
    raw = document.data

    warnings: list[ConfigProblem] = []
    notes = _env_notes(document, expansion, text, warnings)
    flags, problems = _apply_overrides(raw, overrides or Overrides(), warnings)
    _drop_nulls(raw, Config)

    problems += document.duplicate_keys
    config: Config | None = None
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        # Pipelines are validated below, stage by stage, by the stage registry: its messages win.
        problems += [p for p in problems_from(exc, Config) if not _PIPELINE_PATH.match(p.path)]
    base_dir = os.getcwd() if path is None else os.path.dirname(os.path.abspath(path))
    pipelines, stage_problems = _validate_pipelines(raw, warnings, base_dir)
    problems += stage_problems + _duplicate_job_names(raw)

    if problems:
        problems = [_with_notes(p, notes, flags) for p in problems]
        problems = [_flag_path(p, flags) for p in problems]
        problems.sort(key=lambda p: (not p.path.startswith("-"), document.line_of(p.path) or 0))
        raise ConfigError(problems, source)
    assert config is not None
    warnings += _client_warnings(config, notes, flags, warnings)
    warnings += _target_warnings(config) + _feature_warnings(config)
    return LoadedConfig(config, warnings, pipelines, source)


def _read(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        reason = f"config file {path} does not exist; pass the path of your Promtail config with -config.file"
    except IsADirectoryError:
        reason = f"{path} is a directory; -config.file needs the path of a YAML file"
    except PermissionError:
        reason = f"cannot read config file {path}: permission denied; run the agent as a user that can read it"
    except OSError as exc:
        reason = f"cannot read config file {path}: {exc.strerror or exc}"
    else:
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            reason = f"config file {path} is not UTF-8 text (invalid byte at offset {exc.start})"
    raise ConfigError([ConfigProblem("", reason)], path)


# --- environment variables ----------------------------------------------------------------------------


def _env_notes(
    document: yamlio.Document, expansion: envsubst.Expansion | None, text: str, warnings: list[ConfigProblem]
) -> dict[str, list[str]]:
    """Explanations to attach to errors at a YAML path; unset variables also become warnings."""
    notes: dict[str, list[str]] = {}
    if expansion is not None:
        for ref in expansion.references:
            path = document.path_at(ref.start)
            if path is None or not ref.is_silently_empty:  # None: the reference sits in a comment
                continue
            note = f"${{{ref.name}}} on line {ref.line} expanded to an empty string because {ref.name} is not set"
            if ref.name.isdigit():
                note += f"; write $${{{ref.name}}} to keep a regex group reference"
            notes.setdefault(path, []).append(note)
            warnings.append(ConfigProblem(path, note))
    else:
        unexpanded: dict[str, list[str]] = {}
        for reference, offset in envsubst.references(text):
            if (path := document.path_at(offset)) is not None:
                unexpanded.setdefault(path, []).append(reference)
        for path, found in unexpanded.items():
            verb = "is" if len(found) == 1 else "are"
            notes[path] = [f"{', '.join(found)} {verb} expanded only with -config.expand-env=true"]
    return notes


def _with_notes(problem: ConfigProblem, notes: dict[str, list[str]], flags: dict[str, str]) -> ConfigProblem:
    if problem.path in flags:
        return problem  # a flag replaced the YAML value the note is about
    related = [n for path, group in notes.items() if _is_within(path, problem.path) for n in group]
    return ConfigProblem(problem.path, "; ".join([problem.message, *related])) if related else problem


def _is_within(path: str, ancestor: str) -> bool:
    return bool(ancestor) and (path == ancestor or path.startswith((ancestor + ".", ancestor + "[")))


# --- flags ----------------------------------------------------------------------------------------------


def _apply_overrides(
    raw: dict[str, Any], overrides: Overrides, warnings: list[ConfigProblem]
) -> tuple[dict[str, str], list[ConfigProblem]]:
    """Write flag values into `raw`; return {YAML path: flag name} for what they set, and flag problems."""
    flags: dict[str, str] = {}
    problems: list[ConfigProblem] = []

    def put(section: str, key: str, value: object, flag: str) -> None:
        if raw.get(section) is None:
            raw[section] = {}
        if isinstance(raw[section], dict):
            raw[section][key] = value
            flags[f"{section}.{key}"] = flag

    if overrides.client_url is not None:
        put("client", "url", overrides.client_url, "-client.url")
    has_flag_client = isinstance(raw.get("client"), dict)
    if overrides.client_tenant_id is not None:
        if has_flag_client:
            put("client", "tenant_id", overrides.client_tenant_id, "-client.tenant-id")
        else:
            warnings.append(ConfigProblem("-client.tenant-id", "ignored: it applies only with -client.url"))
    flag_labels: dict[str, str] | None = None
    if overrides.client_external_labels is not None:
        flag_labels, problem = _parse_labels(overrides.client_external_labels)
        if problem:
            problems.append(ConfigProblem("-client.external-labels", problem))
        elif has_flag_client:
            put("client", "external_labels", flag_labels, "-client.external-labels")
    problems += _merge_singular_client(raw, None if has_flag_client else flag_labels, overrides.client_url is not None)

    if overrides.positions_file is not None:
        put("positions", "filename", overrides.positions_file, "-positions.file")
    if overrides.http_listen_port is not None:
        put("server", "http_listen_port", overrides.http_listen_port, "-server.http-listen-port")
    if overrides.log_level is not None:
        if overrides.log_level in _LOG_LEVELS:
            put("server", "log_level", overrides.log_level, "-log.level")
        else:
            message = f"unknown level {overrides.log_level!r}; use one of {', '.join(_LOG_LEVELS)}"
            problems.append(ConfigProblem("-log.level", message))
    return flags, problems


def _parse_labels(text: str) -> tuple[dict[str, str], str]:
    labels: dict[str, str] = {}
    for pair in filter(None, text.split(",")):
        name, equals, value = pair.partition("=")
        if not equals:
            return {}, f"expected comma-separated name=value pairs such as host=web-1,env=prod, got {text!r}"
        if not _LABEL_NAME.match(name):
            return {}, f"{name!r} is not a valid label name (letters, digits and _, not starting with a digit)"
        labels[name] = value
    return labels, ""


def _merge_singular_client(
    raw: dict[str, Any], flag_labels: dict[str, str] | None, url_from_flag: bool
) -> list[ConfigProblem]:
    """Promtail merges the singular client's external labels into every `clients` entry (the entry wins).

    A `client` block without a url, or with an empty one, and no -client.url is no client: Promtail uses
    only its external labels. Its other keys are still checked, so that a misspelt `url` does not go
    unnoticed.
    """
    client = raw.get("client")
    labels = client.get("external_labels") if isinstance(client, dict) else flag_labels
    if isinstance(labels, dict) and labels and isinstance(raw.get("clients"), list):
        for entry in raw["clients"]:
            if isinstance(entry, dict) and isinstance(entry.get("external_labels") or {}, dict):
                entry["external_labels"] = {**labels, **(entry.get("external_labels") or {})}
    if not isinstance(client, dict) or client.get("url") not in (None, "") or url_from_flag:
        return []
    del raw["client"]
    try:
        ClientConfig.model_validate({**client, "url": "http://url.invalid"})
    except ValidationError as exc:
        return problems_from(exc, ClientConfig, "client")
    return []


def _flag_path(problem: ConfigProblem, flags: dict[str, str]) -> ConfigProblem:
    for path, flag in flags.items():
        if _is_within(problem.path, path):
            return ConfigProblem(flag + problem.path[len(path) :], problem.message)
    return problem


# --- validation -----------------------------------------------------------------------------------------

_PIPELINE_PATH = re.compile(r"^scrape_configs\[\d+\]\.pipeline_stages(?:$|[.\[])")


def _drop_nulls(raw: dict[str, Any], model: type[BaseModel]) -> None:
    """Treat a `key:` left empty as Go's decoder does: the field keeps its default, a map value is "".

    An empty required key is reported as missing, which is what it is (`job_name:` waiting for a value).
    """
    fields = {(info.alias or name): info for name, info in model.model_fields.items()}
    for key in list(raw):
        info = fields.get(key)
        if info is None:
            continue
        value = raw[key]
        if value is None:
            del raw[key]
            continue
        if isinstance(value, dict) and info.annotation == dict[str, str]:
            raw[key] = {k: "" if v is None else v for k, v in value.items()}
            continue
        inner = _model_in(info.annotation)
        if inner is not None:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    _drop_nulls(item, inner)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if (found := _model_in(arg)) is not None:
            return found
    return None


def _validate_pipelines(
    raw: dict[str, Any], warnings: list[ConfigProblem], base_dir: str
) -> tuple[dict[str, list[StageSpec]], list[ConfigProblem]]:
    """Every job's stage specs; `include` paths in them start from `base_dir` (the config file's directory)."""
    pipelines: dict[str, list[StageSpec]] = {}
    problems: list[ConfigProblem] = []
    scrape_configs = raw.get("scrape_configs")
    for index, scrape in enumerate(scrape_configs if isinstance(scrape_configs, list) else []):
        if not isinstance(scrape, dict):
            continue
        specs, found = validate_stages(
            scrape.get("pipeline_stages"), f"scrape_configs[{index}].pipeline_stages", warnings, base_dir=base_dir
        )
        problems += found
        if isinstance(scrape.get("job_name"), str):
            pipelines[scrape["job_name"]] = specs
    return pipelines, problems


def _duplicate_job_names(raw: dict[str, Any]) -> list[ConfigProblem]:
    """Promtail refuses two scrape configs with one job name ("found multiple scrape configs with job name")."""
    first: dict[str, int] = {}
    problems: list[ConfigProblem] = []
    scrape_configs = raw.get("scrape_configs")
    for index, scrape in enumerate(scrape_configs if isinstance(scrape_configs, list) else []):
        name = scrape.get("job_name") if isinstance(scrape, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            message = f"job name {name!r} is already used by scrape_configs[{first[name]}]; job names must be unique"
            problems.append(ConfigProblem(f"scrape_configs[{index}].job_name", message))
        else:
            first[name] = index
    return problems


def _client_warnings(
    config: Config, notes: dict[str, list[str]], flags: dict[str, str], warnings: list[ConfigProblem]
) -> list[ConfigProblem]:
    """A client URL that Promtail accepts but no push can succeed with (empty, relative, not http(s)).

    The app refuses to start such a client; the warning says why at load time, with the env notes that
    explain it (an unexpanded `${VAR}`) unless they are warnings already.
    """
    clients = [(f"clients[{index}].url", client) for index, client in enumerate(config.clients)]
    if config.client is not None:
        clients.append(("client.url", config.client))
    unsaid = {path: [n for n in group if ConfigProblem(path, n) not in warnings] for path, group in notes.items()}
    found: list[ConfigProblem] = []
    for path, client in clients:
        if (reason := client.push_url_problem) is not None:
            found.append(_flag_path(_with_notes(ConfigProblem(path, reason), unsaid, flags), flags))
    return found


def _target_warnings(config: Config) -> list[ConfigProblem]:
    warnings: list[ConfigProblem] = []
    for index, scrape in enumerate(config.scrape_configs):
        prefix = f"scrape_configs[{index}]"
        unsupported = [kind for kind in UNSUPPORTED_TARGETS if getattr(scrape, kind, None) not in (None, [])]
        for kind in unsupported:
            effect = "runs without it" if scrape.static_configs else "is skipped"
            warnings.append(ConfigProblem(f"{prefix}.{kind}", f"not supported yet; job {scrape.job_name!r} {effect}"))
        warnings += _path_warnings(scrape, prefix, check_missing=not unsupported)
    return warnings


def _path_warnings(scrape: ScrapeConfig, prefix: str, *, check_missing: bool) -> list[ConfigProblem]:
    warnings: list[ConfigProblem] = []
    path_from_relabel = any(rule.target_label == "__path__" for rule in scrape.relabel_configs)
    for index, static in enumerate(scrape.static_configs):
        labels_path = f"{prefix}.static_configs[{index}].labels"
        if "__path__" not in static.labels and check_missing and not path_from_relabel:
            message = "missing: this static_configs entry tails no files; set it to a glob such as /var/log/*.log"
            warnings.append(ConfigProblem(f"{labels_path}.__path__", message))
        for label in ("__path__", "__path_exclude__"):
            pattern = static.labels.get(label)
            if pattern is not None and (reason := glob_problem(pattern)):
                warnings.append(ConfigProblem(f"{labels_path}.{label}", f"{reason}; it matches no files"))
    return warnings


def glob_problem(pattern: str) -> str:
    """Why `pattern` is not a valid doublestar glob (as Promtail matches `__path__`), or an empty string."""
    if not pattern.strip():
        return "empty glob"
    depth = 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 == len(pattern):
                return f"glob {pattern!r} ends with an unfinished escape '\\'"
            i += 2
            continue
        if char == "[":
            close = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("^", "!") else i + 1)
            if close == -1 or close == i + 1:
                return f"glob {pattern!r} has an unclosed '[' at position {i}"
            i = close + 1
            continue
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        i += 1
    return f"glob {pattern!r} has an unclosed '{{'" if depth else ""


def _feature_warnings(config: Config) -> list[ConfigProblem]:
    """Top-level features Promtail has and the agent accepts without running them."""
    warnings: list[ConfigProblem] = []
    if _is_enabled(config.tracing):
        warnings.append(ConfigProblem("tracing.enabled", "not supported; the agent sends no traces"))
    if _is_enabled(config.wal):
        message = "not supported; positions advance only when Loki acknowledges a batch, so nothing is lost"
        warnings.append(ConfigProblem("wal.enabled", message))
    return warnings


def _is_enabled(section: dict[str, Any] | None) -> bool:
    value = (section or {}).get("enabled")
    return value is True or (isinstance(value, str) and value.lower() in ("true", "yes", "on", "1"))


# --- rendering ------------------------------------------------------------------------------------------

_SECRET_KEYS = frozenset({"password", "bearer_token", "credentials", "client_secret", "key", "secret", "token"})
_SECRET_HEADERS = re.compile(r"authorization|token|secret|key|cookie", re.IGNORECASE)


def render_config(config: Config) -> str:
    """The effective config as YAML, defaults included and secrets shown as <secret> (-print-config-stderr)."""
    return yaml.safe_dump(_plain(config), sort_keys=False, allow_unicode=True, width=110)


def _plain(value: Any, key: str = "") -> Any:
    if isinstance(value, BaseModel):
        out: dict[str, Any] = {}
        for name, info in type(value).model_fields.items():
            item = getattr(value, name)
            if item is None or (item == [] and name in UNSUPPORTED_TARGETS):
                continue  # not set: listing every target kind a job does not use is noise
            is_duration = any(isinstance(m, BeforeValidator) and m.func is parse_duration for m in info.metadata)
            out[info.alias or name] = format_duration(item) if is_duration else _plain(item, info.alias or name)
        return out
    if isinstance(value, re.Pattern):
        anchored = re.fullmatch(r"(?:\^|\\A)\(\?:(.*)\)(?:\$|\\Z)", value.pattern, re.DOTALL)
        return anchored.group(1) if anchored else value.pattern
    if isinstance(value, dict):
        if key == "headers":
            return {k: "<secret>" if _SECRET_HEADERS.search(str(k)) and v else v for k, v in value.items()}
        return {k: _plain(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item, key) for item in value]
    if isinstance(value, str) and value:
        if key in _SECRET_KEYS:
            return "<secret>"
        if key.endswith("url") and (match := re.match(r"^([a-z][a-z0-9+.-]*://[^/@:]*:)[^/@]*@", value, re.I)):
            return match.group(1) + "<secret>@" + value[match.end() :]
    return value


def format_duration(seconds: float) -> str:
    """Seconds as a Promtail duration string: 0s, 250ms, 10s, 1m30s, 7h."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    sign, nanos = ("-" if nanos < 0 else ""), abs(nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("us", 1_000), ("ns", 1)):
            if nanos % size == 0:
                return f"{sign}{nanos // size}{unit}"
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    if rest:
        parts.append(f"{rest / 1e9:.9f}".rstrip("0").rstrip(".") + "s")
    return sign + "".join(parts)
