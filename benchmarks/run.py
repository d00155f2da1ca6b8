#!/usr/bin/env python3
"""Reproducible benchmarks of the agent, measured the way ../shared/bench/README.md describes.

Scenarios (each starts a fresh agent process on a fresh positions file, with the shared Loki sink):

- ``throughput``: ship a generated file (default 1M lines); report lines per CPU-second of the agent
  (utime + stime from /proc, children included), peak RSS (VmHWM), time to the first entry, idle CPU
  after catching up, and the sink's exactly-once verdict.
- ``latency``: append one line every 10 ms to a watched file; report append-to-receive p50/p99.
- ``kill9``: kill -9 the agent halfway through, restart it, report lost and duplicated lines.

    python benchmarks/run.py throughput --shape syslog --pipeline none --runs 3
    python benchmarks/run.py throughput --shape json --pipeline json
    python benchmarks/run.py latency
    python benchmarks/run.py kill9

Needs the shared tools next to the checkout (../shared/bench) and the project's virtual environment.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench"
PYTHON = sys.executable
TICKS = os.sysconf("SC_CLK_TCK")

PIPELINES = {
    "none": "",
    "regex": """
    pipeline_stages:
      - regex:
          expression: '^(?P<ts>\\w+ +\\d+ [\\d:]+) (?P<host>\\S+) (?P<app>[\\w\\-/.]+)(?:\\[(?P<pid>\\d+)\\])?: '
      - labels:
          app:
""",
    "regex-ts": """
    pipeline_stages:
      - regex:
          expression: '^(?P<ts>\\w+ +\\d+ [\\d:]+) (?P<host>\\S+) (?P<app>[\\w\\-/.]+)(?:\\[(?P<pid>\\d+)\\])?: '
      - labels:
          app:
      - timestamp:
          source: ts
          format: Jan _2 15:04:05
""",
    "json": """
    pipeline_stages:
      - json:
          expressions:
            level: level
            ts: ts
            method: method
      - labels:
          level:
          method:
      - timestamp:
          source: ts
          format: RFC3339Nano
""",
}


def config_text(log_path: str, positions: str, url: str, pipeline: str, batchwait: str) -> str:
    return f"""
server:
  http_listen_port: 0
  disable: true
positions:
  filename: {positions}
clients:
  - url: {url}
    batchwait: {batchwait}
scrape_configs:
  - job_name: bench
    static_configs:
      - targets: [localhost]
        labels:
          job: bench
          __path__: {log_path}
{pipeline}"""


def http_json(url: str, data: bytes | None = None) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as response:
        return json.loads(response.read())


def start_sink(verify: str | None, record: bool = False) -> tuple[subprocess.Popen[str], str]:
    args = [PYTHON, str(BENCH / "lokisink.py"), "--port", "0"]
    if verify:
        args += ["--verify", verify]
    if record:
        args.append("--record")
    sink = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None
    line = sink.stdout.readline()
    if not line.startswith("LISTENING"):
        raise RuntimeError(f"sink did not start: {line!r}")
    return sink, f"http://{line.split()[1]}"


def compile_bytecode() -> None:
    """Write the agent's bytecode before measuring, as installing the package does.

    Run from a source tree with PYTHONDONTWRITEBYTECODE set (containers often set it), every start would
    compile each module again: about 0.2 CPU-seconds that an installed agent never spends.
    """
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "agent")], check=True, stdout=subprocess.DEVNULL)


def start_agent(config: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([PYTHON, "-m", "agent", "-config.file", config, "-log.level", "warn"], cwd=ROOT)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / TICKS


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_entries(sink_url: str, count: int, deadline: float) -> dict:
    while time.monotonic() < deadline:
        stats = http_json(f"{sink_url}/stats?streams=0")
        if stats["entries"] >= count:
            return stats
        time.sleep(0.05)
    raise TimeoutError(f"sink has {stats['entries']} of {count} entries")


def generate(shape: str, lines: int, out: Path) -> None:
    if not out.exists():
        subprocess.run(
            [PYTHON, str(BENCH / "genlogs.py"), "--shape", shape, "--lines", str(lines), "--out", str(out)],
            check=True,
        )


def throughput(args: argparse.Namespace) -> None:
    work = Path(args.workdir)
    log_path = work / f"{args.shape}-{args.lines}.log"
    generate(args.shape, args.lines, log_path)
    results = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            sink, url = start_sink(str(log_path))
            config = Path(tmp) / "agent.yaml"
            config.write_text(
                config_text(
                    str(log_path),
                    f"{tmp}/positions.yaml",
                    f"{url}/loki/api/v1/push",
                    PIPELINES[args.pipeline],
                    "1s",
                )
            )
            started = time.time()
            agent = start_agent(str(config))
            try:
                first = wait_entries(url, 1, time.monotonic() + 30)
                wait_entries(url, args.lines, time.monotonic() + 600)
                cpu = cpu_seconds(agent.pid)
                rss = peak_rss_mib(agent.pid)
                time.sleep(5)
                idle = (cpu_seconds(agent.pid) - cpu) / 5 * 100
                verdict = http_json(f"{url}/verify")
            finally:
                agent.send_signal(signal.SIGTERM)
                agent.wait(60)
                sink.terminate()
                sink.wait(10)
            result = {
                "run": run + 1,
                "lines_per_cpu_second": round(args.lines / cpu),
                "cpu_seconds": round(cpu, 2),
                "peak_rss_mib": round(rss, 1),
                "first_entry_after_s": round(first["first_entry_time"] - started, 3),
                "idle_cpu_percent": round(idle, 2),
                "missing": verdict.get("missing"),
                "duplicated": verdict.get("duplicated"),
                "unexpected": verdict.get("unexpected"),
            }
            print(json.dumps(result), flush=True)
            results.append(result)
    print(
        json.dumps(
            {
                "scenario": "throughput",
                "shape": args.shape,
                "pipeline": args.pipeline,
                "lines": args.lines,
                "median_lines_per_cpu_second": statistics.median(r["lines_per_cpu_second"] for r in results),
                "median_peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in results),
                "median_first_entry_s": statistics.median(r["first_entry_after_s"] for r in results),
            }
        )
    )


def latency(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "trickle.log"
        log_path.write_text("")
        sink, url = start_sink(None, record=True)
        config = Path(tmp) / "agent.yaml"
        config.write_text(
            config_text(str(log_path), f"{tmp}/positions.yaml", f"{url}/loki/api/v1/push", "", args.batchwait)
        )
        agent = start_agent(str(config))
        sent: dict[str, float] = {}
        try:
            time.sleep(2)  # let the agent start watching before the first append
            with open(log_path, "a") as f:
                for i in range(args.count):
                    line = f"trickle line {i}"
                    sent[line] = time.time()
                    f.write(line + "\n")
                    f.flush()
                    time.sleep(0.01)
            wait_entries(url, args.count, time.monotonic() + 30)
            with urllib.request.urlopen(f"{url}/records", timeout=30) as response:
                records = json.loads(response.read())
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(60)
            sink.terminate()
            sink.wait(10)
    delays = sorted((received - sent[line]) * 1000 for received, line in records if line in sent)
    print(
        json.dumps(
            {
                "scenario": "latency",
                "batchwait": args.batchwait,
                "lines": len(delays),
                "p50_ms": round(delays[len(delays) // 2], 1),
                "p99_ms": round(delays[int(len(delays) * 0.99)], 1),
                "max_ms": round(delays[-1], 1),
            }
        )
    )


def kill9(args: argparse.Namespace) -> None:
    work = Path(args.workdir)
    log_path = work / f"syslog-{args.lines}.log"
    generate("syslog", args.lines, log_path)
    with tempfile.TemporaryDirectory() as tmp:
        sink, url = start_sink(str(log_path))
        config = Path(tmp) / "agent.yaml"
        config.write_text(
            config_text(str(log_path), f"{tmp}/positions.yaml", f"{url}/loki/api/v1/push", "", "1s")
        )
        agent = start_agent(str(config))
        try:
            wait_entries(url, args.lines // 2, time.monotonic() + 300)
            agent.kill()
            agent.wait()
            before = http_json(f"{url}/stats?streams=0")["entries"]
            agent = start_agent(str(config))
            wait_entries(url, args.lines, time.monotonic() + 600)
            time.sleep(3)  # anything re-sent beyond the total would arrive now
            verdict = http_json(f"{url}/verify")
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(60)
            sink.terminate()
            sink.wait(10)
    print(
        json.dumps(
            {
                "scenario": "kill9",
                "lines": args.lines,
                "received_before_kill": before,
                "missing": verdict.get("missing"),
                "duplicated": verdict.get("duplicated"),
                "unexpected": verdict.get("unexpected"),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="scenario", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--shape", default="syslog", choices=["syslog", "auth", "json", "nginx", "mixed"])
    t.add_argument("--pipeline", default="none", choices=sorted(PIPELINES))
    t.add_argument("--lines", type=int, default=1_000_000)
    t.add_argument("--runs", type=int, default=3)
    t.add_argument("--workdir", default="/tmp/agent-bench")
    t.set_defaults(func=throughput)
    lat = sub.add_parser("latency")
    lat.add_argument("--count", type=int, default=500)
    lat.add_argument("--batchwait", default="100ms")
    lat.set_defaults(func=latency)
    k = sub.add_parser("kill9")
    k.add_argument("--lines", type=int, default=1_000_000)
    k.add_argument("--workdir", default="/tmp/agent-bench")
    k.set_defaults(func=kill9)
    args = parser.parse_args()
    Path(getattr(args, "workdir", "/tmp")).mkdir(parents=True, exist_ok=True)
    compile_bytecode()
    args.func(args)


if __name__ == "__main__":
    main()
