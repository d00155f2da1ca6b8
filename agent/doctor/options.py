"""`agent doctor`'s command line: its own flags, and the agent's flags passed through unchanged.

``agent doctor -config.file x.yaml -config.expand-env -format json -doctor.skip-push``: ``-format``,
``-doctor.skip-push`` and ``-doctor.prometheus-config`` are doctor's; every other flag means what it means
to the agent (`agent.flags`), so doctor checks the same effective config the agent would run. Same syntax:
one or two dashes, ``-name value`` or ``-name=value``.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.flags import Flags, UsageError, parse_flags

FORMATS = ("text", "json")


@dataclass
class DoctorOptions:
    format: str = "text"
    skip_push: bool = False
    prometheus_config: str | None = None


_VALUE_FLAGS = {"format": "format", "doctor.prometheus-config": "prometheus_config"}
_BOOL_FLAGS = {"doctor.skip-push": "skip_push"}
_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}

USAGE = """Usage: agent doctor [flags]

Checks everything the config relies on and prints one line per check, with the fix for each failure:
the config, every __path__ glob (files match and are readable by this user), the positions directory,
the Docker socket (docker_sd_configs), each Loki client (DNS, TCP, TLS, /ready, a test push), and the
metrics endpoint with the Prometheus scrape config that matches it. Exit code 0 when no check failed.

Doctor flags:
  -format text|json
        output format (default text)
  -doctor.skip-push
        do not push the test entry {agent_doctor="1"} to Loki
  -doctor.prometheus-config PATH
        also check that this prometheus.yml scrapes the agent at the right port and path

Every agent flag works as it does for the agent: -config.file, -config.expand-env, -client.url,
-positions.file, -server.http-listen-port, ... (agent -help lists them)."""


def parse_doctor_args(argv: list[str]) -> tuple[DoctorOptions, Flags]:
    """Split doctor's own flags from the agent's; raises UsageError (as `parse_flags` does)."""
    options = DoctorOptions()
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, equals, value = arg.lstrip("-").partition("=") if arg.startswith("-") else ("", "", "")
        if name in _VALUE_FLAGS:
            if not equals:
                i += 1
                if i >= len(argv):
                    raise UsageError(f"flag needs an argument: -{name}")
                value = argv[i]
            setattr(options, _VALUE_FLAGS[name], value)
        elif name in _BOOL_FLAGS:
            if equals and value not in _TRUE | _FALSE:
                raise UsageError(f"invalid boolean value {value!r} for -{name}")
            setattr(options, _BOOL_FLAGS[name], not equals or value in _TRUE)
        else:
            rest.append(arg)
        i += 1
    if options.format not in FORMATS:
        raise UsageError(f"invalid value {options.format!r} for -format: use text or json")
    flags = parse_flags(rest)
    if flags.args:
        raise UsageError(f"agent doctor takes no arguments, got {flags.args[0]!r}")
    return options, flags
