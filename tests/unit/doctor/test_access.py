"""The fix doctor gives for a permission problem: join the group that has access, or grant it."""

from __future__ import annotations

from typing import Any

from agent.doctor.access import PathInfo, permission_fix

NOBODY: dict[str, Any] = {"name": "nobody", "uid": 65534, "gids": [65534], "groups": ["nogroup"]}


def info(mode: int, *, gid: int = 4, group: str = "adm", is_dir: bool = False) -> PathInfo:
    return PathInfo("/var/log/app.log", "root", 0, group, gid, mode, is_dir)


class TestPermissionFix:
    def test_join_the_group_that_can_read(self) -> None:
        """A file its group may read: the fix is joining that group, by name and GID, on a host or in a container."""
        assert permission_fix(info(0o640), NOBODY, "read") == (
            "add the user nobody to the group adm (GID 4): usermod -aG adm nobody, then restart the agent\n"
            'systemd: SupplementaryGroups=adm; container: --group-add 4 (compose: group_add: ["4"])'
        )

    def test_group_without_read_needs_an_acl(self) -> None:
        """A file only its owner may read: the fix grants access with an ACL (or a group bit)."""
        assert permission_fix(info(0o600), NOBODY, "read") == (
            "grant the user nobody read access: setfacl -m u:nobody:r /var/log/app.log "
            "(or give the group adm access with chmod g+r and add nobody to it)"
        )

    def test_member_of_a_group_without_access(self) -> None:
        """The user is in the file's group already: the group needs the bit."""
        member = {**NOBODY, "gids": [65534, 4]}
        assert permission_fix(info(0o600), member, "read") == (
            "the user nobody is in the group adm, which has no read access to this file: chmod g+r /var/log/app.log"
        )

    def test_socket_needs_read_and_write(self) -> None:
        """A unix socket is connected to with write permission: a 0660 socket's group is the one to join."""
        assert permission_fix(info(0o660, gid=105, group="docker"), NOBODY, "connect").startswith(
            "add the user nobody to the group docker (GID 105): usermod -aG docker nobody"
        )

    def test_group_without_a_name_is_added_by_number(self) -> None:
        """Inside a container the host's socket group has no name: the fix adds it to the container by GID."""
        assert permission_fix(info(0o660, gid=105, group="105"), NOBODY, "connect") == (
            "add the group with GID 105 to the agent's container, by number (it has no name in here): "
            'docker run --group-add 105; compose: group_add: ["105"]; Kubernetes: securityContext.supplementalGroups: '
            "[105]"
        )
