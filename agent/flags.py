"""Command-line flags as Promtail spells them: Go's `flag` package syntax, with one or two dashes.

``-config.file=x``, ``-config.file x``, ``--config.file x``; booleans as ``-dry-run`` or ``-dry-run=false``.
Parsing stops at the first argument that is not a flag (a subcommand such as ``doctor``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


class UsageError(Exception):
    """The command line cannot be understood; the message says why."""


@dataclass
class Flags:
    config_file: str | None = None
    config_expand_env: bool = False
    dry_run: bool = False
    stdin: bool = False
    inspect: bool = False
    check_syntax: bool = False
    print_config_stderr: bool = False
    log_config_reverse_order: bool = False
    client_url: str | None = None
    client_tenant_id: str | None = None
    client_external_labels: str | None = None
    positions_file: str | None = None
    server_http_listen_port: int | None = None
    log_level: str | None = None
    log_format: str | None = None
    version: bool = False
    help: bool = False
    args: list[str] = field(default_factory=list)


# flag name -> (Flags attribute, help text)
_FLAGS: dict[str, tuple[str, str]] = {
    "config.file": ("config_file", "Promtail-format YAML config file (default: the embedded config)"),
    "config.expand-env": ("config_expand_env", "expand ${VAR}, ${VAR:-default} in the config file"),
    "dry-run": ("dry_run", "print entries instead of pushing them; write no positions"),
    "stdin": ("stdin", "read lines from standard input through the first scrape config's pipeline"),
    "inspect": ("inspect", "with -dry-run, show what each stage changed"),
    "check-syntax": ("check_syntax", "validate the config (regexes, durations, stages) and exit"),
    "print-config-stderr": ("print_config_stderr", "print the effective config to stderr at start"),
    "log-config-reverse-order": ("log_config_reverse_order", "accepted for Promtail compatibility"),
    "client.url": ("client_url", "Loki push URL (adds a client, as Promtail does)"),
    "client.tenant-id": ("client_tenant_id", "tenant ID for the -client.url client"),
    "client.external-labels": ("client_external_labels", "labels for the -client.url client: k=v,k2=v2"),
    "positions.file": ("positions_file", "positions file path"),
    "server.http-listen-port": ("server_http_listen_port", "HTTP port for /metrics, /ready, /status"),
    "log.level": ("log_level", "debug, info, warn or error"),
    "log.format": ("log_format", "logfmt or json"),
    "version": ("version", "print the version and exit"),
    "help": ("help", "show this help"),
    "h": ("help", "show this help"),
}

_TYPES: dict[str, Any] = {f.name: f.type for f in fields(Flags)}
_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


def _is_bool(attribute: str) -> bool:
    return _TYPES[attribute] in (bool, "bool")


def parse_flags(argv: list[str]) -> Flags:
    """Parse `argv` (without the program name). Raises UsageError for unknown flags or bad values."""
    flags = Flags()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            flags.args = argv[i + 1 :]
            break
        if not arg.startswith("-") or arg == "-":
            flags.args = argv[i:]
            break
        name = arg[2:] if arg.startswith("--") else arg[1:]
        value: str | None = None
        if "=" in name:
            name, value = name.split("=", 1)
        if name not in _FLAGS:
            raise UsageError(f"flag provided but not defined: -{name}")
        attribute = _FLAGS[name][0]
        if _is_bool(attribute):
            if value is None or value in _TRUE:
                setattr(flags, attribute, True)
            elif value in _FALSE:
                setattr(flags, attribute, False)
            else:
                raise UsageError(f"invalid boolean value {value!r} for -{name}")
        else:
            if value is None:
                i += 1
                if i >= len(argv):
                    raise UsageError(f"flag needs an argument: -{name}")
                value = argv[i]
            if attribute == "server_http_listen_port":
                try:
                    setattr(flags, attribute, int(value))
                except ValueError:
                    raise UsageError(f"invalid value {value!r} for -{name}: expected a port number") from None
            else:
                setattr(flags, attribute, value)
        i += 1
    return flags


def usage() -> str:
    lines = ["Usage: agent [flags]", "       agent doctor [flags]", "", "Flags:"]
    seen: set[str] = set()
    for name, (attribute, text) in _FLAGS.items():
        if attribute in seen:
            continue
        seen.add(attribute)
        kind = "" if _is_bool(attribute) else " value"
        lines.append(f"  -{name}{kind}\n        {text}")
    return "\n".join(lines)
