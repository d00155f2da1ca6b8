"""The command line: flags, config loading, exit codes. The only module that calls `sys.exit`.

Exit codes: 0 success; 1 the config or the environment is unusable (every problem is printed, each with
its YAML path); 2 the command line itself is wrong.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from agent.errors import AgentError, ConfigError
from agent.flags import Flags, UsageError, parse_flags, usage
from agent.server.health import agent_version

log = logging.getLogger("agent")


def main(argv: list[str] | None = None) -> None:
    sys.exit(run(sys.argv[1:] if argv is None else argv))


def run(argv: list[str]) -> int:
    """Run the agent as the command line asks; return the exit code."""
    try:
        flags = parse_flags(argv)
    except UsageError as exc:
        print(f"{exc}\n\n{usage()}", file=sys.stderr)
        return 2
    if flags.help:
        print(usage())
        return 0
    if flags.version:
        print(f"agent, version {agent_version()} (Promtail-compatible log shipper for Loki)")
        return 0
    if flags.args and flags.args[0] == "doctor":
        at = len(argv) - len(flags.args)  # flags given before `doctor` count too
        return _run_doctor(argv[:at] + argv[at + 1 :])
    if flags.args:
        print(f"unknown command {flags.args[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    if flags.inspect and not flags.dry_run:
        print("-inspect works with -dry-run: add -dry-run", file=sys.stderr)
        return 2
    return _run_agent(flags)


def _run_doctor(argv: list[str]) -> int:
    """`agent doctor`: 0 when every check passed (warnings allowed), 1 when one failed, 2 on a bad command line."""
    from agent.doctor.options import USAGE, parse_doctor_args
    from agent.doctor.run import diagnose
    from agent.logs import setup_logging

    try:
        options, flags = parse_doctor_args(argv)
    except UsageError as exc:
        print(f"{exc}\n\n{USAGE}", file=sys.stderr)
        return 2
    if flags.help:
        print(USAGE)
        return 0
    # The report is the output; the agent's own log (stderr) only says what went wrong inside doctor.
    setup_logging(flags.log_level or "warn", flags.log_format or "logfmt")
    report = diagnose(flags, options)
    print(report.render_json() if options.format == "json" else report.render_text(), end="")
    return 0 if report.ok else 1


def _run_agent(flags: Flags) -> int:
    from agent.config.loader import LoadedConfig, Overrides, load_config, render_config
    from agent.logs import log_fields, setup_logging

    try:
        setup_logging(flags.log_level or "info", flags.log_format or "logfmt")
    except ValueError as exc:
        print(f"-log.level/-log.format: {exc}", file=sys.stderr)
        return 2
    overrides = Overrides.from_flags(flags)
    try:
        loaded = load_config(flags.config_file, expand_env=flags.config_expand_env, overrides=overrides)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    if not flags.log_level and loaded.config.server.log_level != "info":
        setup_logging(loaded.config.server.log_level, flags.log_format or loaded.config.server.log_format)
    for warning in loaded.warnings:
        log.warning("Config accepted with a warning.", extra=log_fields(path=warning.path, problem=warning.message))
    if flags.print_config_stderr:
        print(render_config(loaded.config), file=sys.stderr)
    from agent.app import Agent, RunOptions, check_stages

    if flags.check_syntax:
        try:
            check_stages(loaded)
        except ConfigError as exc:
            print(exc.render(), file=sys.stderr)
            return 1
        print(f"Valid config file! No syntax issues found. ({loaded.source})")
        return 0

    options = RunOptions(dry_run=flags.dry_run, stdin=flags.stdin, inspect=flags.inspect)
    try:
        def reload_config() -> LoadedConfig:
            return load_config(flags.config_file, expand_env=flags.config_expand_env, overrides=overrides)

        agent = Agent(loaded, options, load=reload_config)
        return asyncio.run(agent.run())
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    except AgentError as exc:
        log.error("Cannot run.", extra=log_fields(reason=str(exc)))
        return 1
    except KeyboardInterrupt:
        return 130
