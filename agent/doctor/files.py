"""Doctor's file checks: every `__path__` glob matches files the agent's user can read; positions are writable.

Globs are expanded exactly as the file source expands them (`agent.sources.globs`, `agent.sources.fileio`),
`__path_exclude__` included. Readability is tested by reading a byte, not by looking at permission bits
(ACLs and capabilities decide too); the bits are only the evidence shown with a failure. Not here: what the
agent does with the files, or targets other than static files.
"""

from __future__ import annotations

import asyncio
import errno
import os
import tempfile
from dataclasses import replace
from typing import Any

from agent.config.model import Config
from agent.doctor.access import PathInfo, blocking_directory, describe_path, permission_fix
from agent.doctor.report import Check, failed, passed, skipped
from agent.sources.fileio import expand_globs
from agent.sources.globs import TargetGlobs, glob_root

MAX_LISTED = 10
"""Unreadable files listed one by one per glob; the rest are counted in one more line."""

_MOUNT_FIX = (
    "check the path; in a container, mount the log directory into the agent's container read-only "
    "(docker run -v {root}:{root}:ro; compose: volumes: [\"{root}:{root}:ro\"]), or share the app's log volume"
)


async def check_files(config: Config, user: dict[str, Any], *, embedded: bool = False) -> list[Check]:
    """One check per `__path__` glob, plus one per unreadable file it matches.

    A glob that matches nothing fails, except in the `embedded` default config, which lists the usual
    system logs of several distributions on purpose: there it is a warning.
    """
    checks: list[Check] = []
    for scrape in config.scrape_configs:
        for static in scrape.static_configs:
            pattern = static.labels.get("__path__")
            if pattern is None:
                continue
            exclude = static.labels.get("__path_exclude__", "")
            found = await _check_glob(f"files job={scrape.job_name}", pattern, exclude, user)
            if embedded:
                found = [replace(c, status="warn") if c.details.get("matched") == 0 else c for c in found]
            checks += found
    if not checks:
        checks.append(skipped("files", "the config tails no files (no static_configs with __path__)"))
    return checks


async def _check_glob(name: str, pattern: str, exclude: str, user: dict[str, Any]) -> list[Check]:
    globs = TargetGlobs(pattern, exclude)
    [found] = await expand_globs([globs.patterns])
    matched = [path for path in found if not globs.excludes(path)]
    who = f"user {user['name']}"
    if not matched:
        return [await asyncio.to_thread(_explain_no_match, name, pattern, globs.patterns, user)]
    errors = await asyncio.to_thread(_read_errors, matched)
    unreadable = [path for path, error in zip(matched, errors, strict=True) if error is not None]
    if not unreadable:
        noun = "file matches" if len(matched) == 1 else "files match"
        return [passed(f"{name} {pattern}", f"{len(matched)} {noun}, all readable by {who}", files=len(matched))]
    checks = [await asyncio.to_thread(_unreadable, path, user) for path in unreadable[:MAX_LISTED]]
    if len(unreadable) > MAX_LISTED:
        more = len(unreadable) - MAX_LISTED
        message = f"{more} more matched files are not readable by {who}"
        checks.append(failed(f"{name} {pattern}", message, "apply the same fix to them", unreadable=len(unreadable)))
    return checks


def _read_errors(paths: list[str]) -> list[OSError | None]:
    errors: list[OSError | None] = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                handle.read(1)
        except OSError as exc:
            errors.append(exc)
        else:
            errors.append(None)
    return errors


def _unreadable(path: str, user: dict[str, Any]) -> Check:
    info = describe_path(path)
    name = f"file {path}"
    if info is None:
        return failed(name, f"cannot be read by user {user['name']}", "check that the file still exists")
    return failed(
        name,
        f"not readable by user {user['name']}: {info.evidence()}",
        permission_fix(info, user, "read"),
        **info.as_dict(),
    )


def _explain_no_match(name: str, pattern: str, patterns: list[str], user: dict[str, Any]) -> Check:
    """Why a glob matches nothing: a directory out of the user's reach, a missing one, or no such files."""
    name = f"{name} {pattern}"
    for each in patterns:
        root = glob_root(each)[0] if any(c in each for c in "*?[") else os.path.dirname(each)
        if (blocked := blocking_directory(os.path.join(root, "x"))) is not None:
            return _denied(name, blocked, "search", user)
        if os.path.isdir(root) and not os.access(root, os.R_OK | os.X_OK):
            return _denied(name, root, "list", user)
    roots = sorted({glob_root(each)[0] for each in patterns})
    missing = [root for root in roots if not os.path.isdir(root)]
    if missing:
        message = f"no file matches: the directory {missing[0]} does not exist"
    else:
        message = f"no file matches (looked in {', '.join(roots)})"
    return failed(name, message, _MOUNT_FIX.format(root=missing[0] if missing else roots[0]), matched=0)


def _denied(name: str, directory: str, need: str, user: dict[str, Any]) -> Check:
    info: PathInfo | None = describe_path(directory)
    verb = "enter" if need == "search" else "list"
    message = f"no file matches: user {user['name']} may not {verb} the directory {directory}"
    if info is None:
        return failed(name, message, f"give the user {user['name']} access to {directory}")
    return failed(name, f"{message} ({info.evidence()})", permission_fix(info, user, need), **info.as_dict())


async def check_positions(config: Config, user: dict[str, Any]) -> Check:
    """The positions file's directory exists (or can be made) and takes a new file."""
    return await asyncio.to_thread(_positions, config.positions.filename, user)


def _positions(filename: str, user: dict[str, Any]) -> Check:
    name = "positions"
    path = os.path.abspath(filename)
    directory = os.path.dirname(path)
    existing = directory
    while not os.path.isdir(existing):
        existing = os.path.dirname(existing)
    who = f"user {user['name']}"
    if existing != directory:
        if os.access(existing, os.W_OK | os.X_OK):
            return passed(name, f"{directory} does not exist yet; {who} can create it in {existing}", file=path)
        info = describe_path(existing)
        message = f"{directory} does not exist and {who} cannot create it in {existing}"
        return _positions_denied(name, message, info, user, directory)
    try:
        handle, probe = tempfile.mkstemp(prefix=".agent-doctor-", dir=directory)
    except OSError as exc:
        info = describe_path(directory)
        if exc.errno == errno.EROFS:
            fix = (
                f"{directory} is on a read-only file system: mount a writable volume there "
                f"(docker run -v agent-positions:{directory}), or set positions.filename / -positions.file"
            )
            return failed(name, f"cannot write in {directory}: read-only file system", fix, file=path)
        return _positions_denied(name, f"{who} cannot write in {directory}", info, user, directory)
    os.close(handle)
    os.unlink(probe)
    if os.path.exists(path) and not os.access(path, os.R_OK):
        info = describe_path(path)
        evidence = f" ({info.evidence()})" if info else ""
        fix = permission_fix(info, user, "read") if info else f"give {who} read access to {path}"
        return failed(name, f"{path} exists but is not readable by {who}{evidence}", fix, file=path)
    return passed(name, f"{directory} is writable by {who} (positions file {path})", file=path)


def _positions_denied(name: str, message: str, info: PathInfo | None, user: dict[str, Any], directory: str) -> Check:
    evidence = f" ({info.evidence()})" if info else ""
    fix = permission_fix(info, user, "write") if info else f"make {directory} writable by user {user['name']}"
    fix += "\nor choose another location with positions.filename or -positions.file"
    return failed(name, message + evidence, fix, directory=directory)
