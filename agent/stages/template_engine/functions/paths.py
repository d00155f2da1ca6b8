"""sprig's path and OS functions: base, dir, ext, clean and isAbs (Go's path package, and their os* forms, which
use path/filepath: the same on Linux), env and expandenv.
"""

from __future__ import annotations

import os
import re

from agent.stages.template_engine.signature import STRING, Func


def _expandenv(text: str) -> str:
    return re.sub(r"\$(?:\{([^}]*)\}|([A-Za-z0-9_]+))", lambda m: os.environ.get(m.group(1) or m.group(2), ""), text)


def _path_clean(path: str) -> str:
    """Go's ``path.Clean``: the shortest equivalent path, by purely lexical processing."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    return ("/" + cleaned) if rooted else (cleaned or ".")


def _path_base(path: str) -> str:
    """Go's ``path.Base``: the last element, trailing slashes removed ("." for "", "/" for slashes only)."""
    if not path:
        return "."
    stripped = path.rstrip("/")
    return stripped.rsplit("/", 1)[-1] if stripped else "/"


def _path_dir(path: str) -> str:
    """Go's ``path.Dir``: everything but the last element, cleaned."""
    return _path_clean(path[: path.rfind("/") + 1])


def _path_ext(path: str) -> str:
    """Go's ``path.Ext``: the suffix from the final dot of the last element, or ""."""
    for index in range(len(path) - 1, -1, -1):
        if path[index] == "/":
            break
        if path[index] == ".":
            return path[index:]
    return ""


FUNCTIONS: dict[str, Func] = {
    # sprig: paths
    "base": Func(_path_base, STRING),
    "dir": Func(_path_dir, STRING),
    "ext": Func(_path_ext, STRING),
    "clean": Func(_path_clean, STRING),
    "isAbs": Func(lambda path: path.startswith("/"), STRING),
    "osBase": Func(_path_base, STRING),
    "osDir": Func(_path_dir, STRING),
    "osExt": Func(_path_ext, STRING),
    "osClean": Func(_path_clean, STRING),
    "osIsAbs": Func(lambda path: path.startswith("/"), STRING),
    # sprig: environment
    "env": Func(lambda name: os.environ.get(name, ""), STRING),
    "expandenv": Func(_expandenv, STRING),
}
