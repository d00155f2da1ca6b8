"""A real Docker Engine for the tests: reach it, build the tiny test image, start containers, remove them.

No image registry is reachable from the test machines, so the image is made here: a root filesystem that
holds only Debian's static busybox (``busybox-static``) and its applet links, imported with ``docker
import``. `.ci/run` installs ``docker.io`` and ``busybox-static`` and starts ``dockerd``.

When no engine answers, Docker tests are skipped, unless ``AGENT_REQUIRE_DOCKER=1`` (CI sets it): then they
fail, so a CI run that silently tested nothing cannot pass.
"""

from __future__ import annotations

import calendar
import io
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import docker
import pytest

IMAGE = "agent-test-busybox:latest"
LABEL = "agent-test"
"""Every container a test starts carries this label (value: the test's run id), so teardown finds them all."""
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
APPLETS = ("sh", "echo", "printf", "seq", "sleep", "usleep", "cat", "yes", "head", "date", "true", "tr", "mkfifo")


def require_docker(reason: str) -> NoReturn:
    """Skip the test for `reason`, or fail it when ``AGENT_REQUIRE_DOCKER=1``."""
    if os.environ.get("AGENT_REQUIRE_DOCKER") == "1":
        pytest.fail(f"Docker tests are required here (AGENT_REQUIRE_DOCKER=1) but {reason}", pytrace=False)
    pytest.skip(reason)


def engine() -> Any:
    """A docker-py client of the local engine, with the test image present (built once)."""
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: no engine here
        require_docker(f"no Docker engine answers on /var/run/docker.sock ({exc})")
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        _build_image(client)
    return client


def _build_image(client: Any) -> None:
    busybox = next((p for p in BUSYBOX_CANDIDATES if Path(p).exists() and _is_static(p)), None)
    if busybox is None:
        require_docker("no static busybox to build the test image from (apt-get install busybox-static)")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
    client.api.import_image_from_data(archive.getvalue(), repository=IMAGE.split(":")[0], tag="latest")


def _is_static(path: str) -> bool:
    # A dynamically linked busybox would need a loader and libc inside the image.
    ldd = shutil.which("ldd")
    if ldd is None:
        return True
    done = subprocess.run([ldd, path], capture_output=True, text=True, check=False)
    return "not a dynamic executable" in (done.stdout + done.stderr) or done.returncode != 0


class Containers:
    """Starts containers for one test (all labelled with its run id) and removes every one at `close`."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.run_id = uuid.uuid4().hex[:12]
        self.started: list[Any] = []

    @property
    def filter(self) -> dict[str, Any]:
        """A `docker_sd_configs` filter that discovers exactly this test's containers."""
        return {"name": "label", "values": [f"{LABEL}={self.run_id}"]}

    def run(self, script: str, *, name: str | None = None, tty: bool = False, **options: Any) -> Any:
        """Start ``sh -c <script>`` in the test image, detached; return the docker-py container."""
        labels = {LABEL: self.run_id, **options.pop("labels", {})}
        container = self.client.containers.run(
            IMAGE, ["sh", "-c", script], name=name or f"agent-test-{self.run_id}-{len(self.started)}",
            detach=True, tty=tty, labels=labels, network_mode=options.pop("network_mode", "none"), **options,
        )
        self.started.append(container)
        return container

    def close(self) -> None:
        for container in self.client.containers.list(all=True, filters={"label": f"{LABEL}={self.run_id}"}):
            container.remove(force=True)


def docker_logs(container: Any, stream: str = "stdout") -> list[tuple[int, str]]:
    """What Docker itself has for `container`'s `stream`: (timestamp ns, line) of every line, via docker-py."""
    raw = container.logs(stdout=stream == "stdout", stderr=stream == "stderr", timestamps=True)
    entries = []
    for record in raw.decode("utf-8", "replace").split("\n")[:-1]:
        stamp, _, line = record.partition(" ")
        seconds = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
        entries.append((seconds * 1_000_000_000 + int(stamp[20:29]), line.removesuffix("\r")))
    return entries


def containers_fixture() -> Iterator[Containers]:
    runner = Containers(engine())
    try:
        yield runner
    finally:
        runner.close()
