"""Many containers: the agent's CPU and memory while it follows N containers that each log at a steady rate.

    python benchmarks/containers.py --containers 200 --rate 10 --seconds 60

Needs a Docker engine (the test image is built as the tests build it: busybox-static, `docker import`).
Starts the shared sink (../shared/bench/lokisink.py), the agent with a `docker_sd_configs` job filtered on
this run's label, then the containers; once all are followed it measures the agent's CPU seconds
(utime + stime) over `--seconds`, the lines the sink received meanwhile, and the agent's peak RSS.
Every container started is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import run as bench  # noqa: E402  (benchmarks/run.py: sink, agent, /proc readers)

from support.docker_engine import IMAGE, LABEL, engine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="lines per second per container")
    parser.add_argument("--seconds", type=float, default=60.0, help="measurement window")
    args = parser.parse_args()

    client = engine()
    run_id = uuid.uuid4().hex[:12]
    work = Path(tempfile.mkdtemp(prefix="agent-docker-bench-"))
    sink, url = bench.start_sink(None)
    config = work / "agent.yaml"
    config.write_text(json.dumps({
        "server": {"http_listen_address": "127.0.0.1", "http_listen_port": 0},
        "positions": {"filename": str(work / "positions.yaml")},
        "clients": [{"url": url + "/loki/api/v1/push"}],
        "scrape_configs": [{
            "job_name": "containers",
            "docker_sd_configs": [{
                "host": "unix:///var/run/docker.sock", "refresh_interval": "60s",
                "filters": [{"name": "label", "values": [f"{LABEL}={run_id}"]}],
            }],
            "relabel_configs": [
                {"source_labels": ["__meta_docker_container_name"], "regex": "/(.*)", "target_label": "container"}
            ],
        }],
    }))
    agent = bench.start_agent(str(config))
    pause_us = int(1_000_000 / args.rate)
    script = (
        'i=0; while true; do echo "bench line $i of $HOSTNAME level=info msg=tick"; i=$((i+1)); '
        f"usleep {pause_us}; done"
    )
    started = time.monotonic()
    try:
        for number in range(args.containers):
            client.containers.run(
                IMAGE, ["sh", "-c", script], name=f"agent-bench-{run_id}-{number}", detach=True,
                labels={LABEL: run_id}, network_mode="none",
            )
        print(f"started {args.containers} containers in {time.monotonic() - started:.1f}s", flush=True)
        time.sleep(10)  # every container followed, its backlog shipped
        cpu_before, wall_before = bench.cpu_seconds(agent.pid), time.monotonic()
        entries_before = bench.http_json(url + "/stats")["entries"]
        time.sleep(args.seconds)
        cpu = bench.cpu_seconds(agent.pid) - cpu_before
        wall = time.monotonic() - wall_before
        entries = bench.http_json(url + "/stats")["entries"] - entries_before
        rss = bench.peak_rss_mib(agent.pid)
        print(json.dumps({
            "containers": args.containers,
            "rate_per_container": args.rate,
            "lines_per_second_received": round(entries / wall, 1),
            "expected_lines_per_second": args.containers * args.rate,
            "agent_cpu_percent_of_one_core": round(100 * cpu / wall, 2),
            "lines_per_cpu_second": round(entries / cpu) if cpu else None,
            "agent_peak_rss_mib": round(rss, 1),
        }, indent=2))
    finally:
        agent.terminate()
        agent.wait(30)
        sink.terminate()
        for container in client.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"}):
            container.remove(force=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
