"""Who the agent runs as, and why a path is out of its reach: the evidence and the fix for permission errors.

`current_user` names the process's user and groups (the agent's user, when doctor runs as that user).
`describe_path` reads a path's owner, group and mode; `permission_fix` turns that into the one change that
gives the user access: join the group that already has it (``adm`` for /var/log on Debian), or grant it.
Blocking calls (``stat``, the user database): call from a thread. Deciding *whether* access works is the
caller's business: it tries the real operation, because ACLs and capabilities also decide.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from typing import Any


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a container's numeric user without a passwd entry
        return str(uid)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def current_user() -> dict[str, Any]:
    """The effective user of this process and all its groups (names, and their ids)."""
    uid = os.geteuid()
    gids = sorted({os.getegid(), *os.getgroups()})
    return {
        "name": user_name(uid),
        "uid": uid,
        "gids": gids,
        "groups": [group_name(gid) for gid in gids],
    }


@dataclass(frozen=True)
class PathInfo:
    """A path's owner, group and permission bits, as `ls -l` shows them."""

    path: str
    owner: str
    uid: int
    group: str
    gid: int
    mode: int
    is_dir: bool

    @property
    def mode_text(self) -> str:
        return f"{self.mode:04o}"

    def evidence(self) -> str:
        return f"owner {self.owner}, group {self.group} (GID {self.gid}), mode {self.mode_text}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "owner": self.owner,
            "uid": self.uid,
            "group": self.group,
            "gid": self.gid,
            "mode": self.mode_text,
        }


def describe_path(path: str) -> PathInfo | None:
    """The path's owner, group and mode, or None when even `stat` fails (a parent is not searchable)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return PathInfo(
        path, user_name(st.st_uid), st.st_uid, group_name(st.st_gid), st.st_gid, stat.S_IMODE(st.st_mode),
        stat.S_ISDIR(st.st_mode),
    )


def blocking_directory(path: str) -> str | None:
    """The first ancestor directory of `path` the current user may not search (enter), or None."""
    parent = os.path.dirname(os.path.abspath(path))
    chain: list[str] = []
    while True:
        chain.append(parent)
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    for directory in reversed(chain):
        if os.path.isdir(directory) and not os.access(directory, os.X_OK):
            return directory
    return None


_BITS = {  # the group permission bits each need takes, and their chmod letters
    "read": (stat.S_IRGRP, "r"),
    "list": (stat.S_IRGRP | stat.S_IXGRP, "rx"),
    "search": (stat.S_IXGRP, "x"),
    "write": (stat.S_IWGRP | stat.S_IXGRP, "wx"),
    "connect": (stat.S_IRGRP | stat.S_IWGRP, "rw"),  # a unix socket: connect(2) needs write permission
}


def permission_fix(info: PathInfo, user: dict[str, Any], need: str) -> str:
    """The change that gives `user` the `need`ed access (``read``, ``list``, ``search``, ``write``, ``connect``).

    When the path's group has that access already, joining the group is the fix (it survives log rotation,
    which recreates files with the same group); otherwise the group or an ACL must grant it.
    """
    group_bit, letters = _BITS[need]
    name = user["name"]
    in_group = info.gid in user["gids"]
    if info.mode & group_bit == group_bit and not in_group and info.group == str(info.gid):
        # A group without a name here: a host's group seen from a container (the Docker socket's, often).
        return (
            f"add the group with GID {info.gid} to the agent's container, by number (it has no name in here): "
            f"docker run --group-add {info.gid}; compose: group_add: [\"{info.gid}\"]; "
            f"Kubernetes: securityContext.supplementalGroups: [{info.gid}]"
        )
    if info.mode & group_bit == group_bit and not in_group:
        return (
            f"add the user {name} to the group {info.group} (GID {info.gid}): usermod -aG {info.group} {name}, "
            f"then restart the agent\n"
            f"systemd: SupplementaryGroups={info.group}; container: --group-add {info.gid} "
            f"(compose: group_add: [\"{info.gid}\"])"
        )
    target = "directory" if info.is_dir else "file"
    if in_group:
        return (
            f"the user {name} is in the group {info.group}, which has no {need} access to this {target}: "
            f"chmod g+{letters} {info.path}"
        )
    return (
        f"grant the user {name} {need} access: setfacl -m u:{name}:{letters} {info.path} "
        f"(or give the group {info.group} access with chmod g+{letters} and add {name} to it)"
    )
