"""`agent doctor`: load the config as the agent would, run every check, and collect one `Report`.

The config is loaded first (blocking, before the event loop, as the agent does); if it does not load,
that is the only check. Otherwise the file, positions, Docker, Loki and metrics checks run concurrently
(they are independent; each network step has its own timeout) and are reported in a fixed order. A check
that crashes is reported as failed, and logged with its traceback. Printing and exit codes are `agent.cli`'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from agent.config.loader import EMBEDDED_SOURCE, LoadedConfig, Overrides, load_config
from agent.doctor.access import current_user
from agent.doctor.docker import check_docker
from agent.doctor.files import check_files, check_positions
from agent.doctor.loki import check_client
from agent.doctor.metrics import check_metrics, scrape_config_snippet
from agent.doctor.options import DoctorOptions
from agent.doctor.report import Check, Report, failed, passed, skipped, warned
from agent.errors import ConfigError
from agent.flags import Flags

log = logging.getLogger(__name__)


def diagnose(flags: Flags, options: DoctorOptions) -> Report:
    """Run every check for the config the agent would run with `flags`."""
    user = current_user()
    overrides = Overrides.from_flags(flags)
    try:
        loaded = load_config(flags.config_file, expand_env=flags.config_expand_env, overrides=overrides)
        _check_stages(loaded)
    except ConfigError as exc:
        report = Report(user, exc.source or flags.config_file or "<embedded default>")
        problems = "; ".join(str(problem) for problem in exc.problems)
        fix = "fix each problem at the YAML path named; agent -check-syntax -config.file ... lists them too"
        report.checks.append(failed("config", f"{len(exc.problems)} problem(s): {problems}", fix))
        return report
    report = Report(user, loaded.source)
    if user["uid"] == 0:
        report.notes.append(
            "root reads every file: run doctor as the agent's user (sudo -u agent agent doctor ...) to check its access"
        )
    report.checks.append(_config_check(loaded))
    report.checks += [warned("config", str(warning)) for warning in loaded.warnings]
    report.checks += asyncio.run(_run_checks(loaded, options, user))
    if not loaded.config.server.disable:
        report.scrape_config = scrape_config_snippet(loaded.config)
    return report


def _check_stages(loaded: LoadedConfig) -> None:
    from agent.app import check_stages  # the app's module is large: import it only once the config loaded

    check_stages(loaded)


def _config_check(loaded: LoadedConfig) -> Check:
    config = loaded.config
    clients, jobs = len(config.all_clients()), len(config.scrape_configs)
    return passed(
        "config",
        f"loads and validates ({clients} client{'s' * (clients != 1)}, {jobs} scrape config{'s' * (jobs != 1)})",
        clients=clients,
        scrape_configs=jobs,
    )


async def _run_checks(loaded: LoadedConfig, options: DoctorOptions, user: dict[str, Any]) -> list[Check]:
    config = loaded.config
    groups: list[tuple[str, Awaitable[list[Check]]]] = [
        ("files", check_files(config, user, embedded=loaded.source == EMBEDDED_SOURCE)),
        ("positions", _one(check_positions(config, user))),
        ("docker", check_docker(config, user)),
    ]
    clients = config.all_clients()
    for index, client in enumerate(clients):
        groups.append((f"loki[{index}]", check_client(index, client, push=not options.skip_push)))
    if options.skip_push:
        groups.append(("loki push", _one(_push_skipped())))
    groups.append(("metrics", check_metrics(config, options.prometheus_config)))
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(_guarded(name, work)) for name, work in groups]
    checks = [check for task in tasks for check in task.result()]
    if not clients:
        checks.insert(3, failed("loki", "the config has no clients: nothing is shipped",
                                "add a clients: entry with url: http://loki:3100/loki/api/v1/push"))
    return checks


async def _push_skipped() -> Check:
    return skipped("loki push", "-doctor.skip-push: no test entry was pushed")


async def _one(work: Awaitable[Check]) -> list[Check]:
    return [await work]


async def _guarded(name: str, work: Awaitable[list[Check]]) -> list[Check]:
    try:
        return await work
    except Exception as exc:
        log.error("Doctor check crashed.", exc_info=True, extra={"check": name})
        return [failed(name, f"the check crashed: {type(exc).__name__}: {exc}", "report this as a bug")]
