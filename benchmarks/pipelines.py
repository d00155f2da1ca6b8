"""Event pipelines: write the labelled corpus, measure precision and recall, and lines per CPU-second.

    python benchmarks/pipelines.py corpus            # (re)write tests/data/events/<pipeline>.tsv
    python benchmarks/pipelines.py accuracy          # precision and recall of each pipeline on its corpus
    python benchmarks/pipelines.py speed [--lines N] # lines per CPU-second of each pipeline (default 1M lines)

Speed runs each bundled pipeline alone (``- include: NAME``) in-process through `agent.pipeline.Pipeline`, in
chunks of 512 entries as a file tail hands them over, on lines drawn from the pipeline's own templates
(`tests/support/event_lines.py`; events and routine lines in the proportions of the templates) and counts
`time.process_time()` around the processing only (making the entries is excluded).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from agent.config.loader import load_config  # noqa: E402
from agent.model import LogEntry, untracked_checkpoint  # noqa: E402
from agent.pipeline import Pipeline  # noqa: E402
from agent.server.metrics import Metrics  # noqa: E402
from agent.stages.base import StageContext  # noqa: E402
from agent.stages.registry import build_stages  # noqa: E402
from support.event_lines import PIPELINES, corpus  # noqa: E402

CORPUS_DIR = ROOT / "tests" / "data" / "events"
ROUNDS = {"security": 5, "performance": 10, "business": 15}


def build(pipeline: str) -> tuple[Pipeline, Metrics]:
    """A pipeline that is `- include: <pipeline>` and nothing else, with its own metrics."""
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory, "config.yaml")
        config.write_text(f"scrape_configs:\n  - job_name: bench\n    pipeline_stages:\n      - include: {pipeline}\n")
        loaded = load_config(str(config))
    metrics = Metrics()
    stages = build_stages(loaded.pipelines["bench"], StageContext("bench", metrics))
    return Pipeline(stages, fanout=1, name="bench", metrics=metrics), metrics


def label(pipeline: Pipeline, lines: list[str]) -> list[dict[str, str]]:
    """The labels each line comes out with."""
    labels = {"job": "bench"}
    entries = [LogEntry(i, line, labels, untracked_checkpoint()) for i, line in enumerate(lines)]
    return [entry.labels for entry in pipeline.process(entries)]


def read_corpus(name: str) -> list[tuple[str, str]]:
    rows = []
    for raw in (CORPUS_DIR / f"{name}.tsv").read_text(encoding="utf-8").splitlines():
        expected, _, line = raw.partition("\t")
        rows.append(("" if expected == "-" else expected, line))
    return rows


def accuracy(name: str) -> tuple[float, float, int, list[tuple[str, str, str]]]:
    """Precision and recall of event_type on the corpus, its size, and the misses (expected, got, line)."""
    pipeline, _ = build(name)
    rows = read_corpus(name)
    got = [labels.get("event_type", "") for labels in label(pipeline, [line for _, line in rows])]
    true_positive = sum(1 for (want, _), have in zip(rows, got, strict=True) if have and have == want)
    predicted = sum(1 for have in got if have)
    actual = sum(1 for want, _ in rows if want)
    misses = [(want, have, line) for (want, line), have in zip(rows, got, strict=True) if want != have]
    return true_positive / max(predicted, 1), true_positive / max(actual, 1), len(rows), misses


def speed(name: str, count: int, chunk: int = 512) -> float:
    """Lines per CPU-second of the pipeline on `count` lines drawn from its templates."""
    pipeline, _ = build(name)
    pool = [line for _, line in corpus(name, 200, seed=11)]
    rng = random.Random(3)
    lines = [rng.choice(pool) for _ in range(count)]
    labels = {"job": "bench", "filename": "/var/log/app.log"}
    cpu = 0.0
    for start in range(0, count, chunk):
        part = lines[start : start + chunk]
        entries = [LogEntry(i, line, labels, untracked_checkpoint()) for i, line in enumerate(part)]
        began = time.process_time()
        pipeline.process(entries)
        cpu += time.process_time() - began
    return count / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["corpus", "accuracy", "speed"])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--pipeline", choices=sorted(PIPELINES), action="append")
    args = parser.parse_args()
    names = args.pipeline or sorted(PIPELINES)
    for name in names:
        if args.command == "corpus":
            CORPUS_DIR.mkdir(parents=True, exist_ok=True)
            rows = corpus(name, ROUNDS[name])
            text = "".join(f"{expected or '-'}\t{line}\n" for expected, line in rows)
            (CORPUS_DIR / f"{name}.tsv").write_text(text, encoding="utf-8")
            print(f"{name}: {len(rows)} lines, {sum(1 for e, _ in rows if e)} events")
        elif args.command == "accuracy":
            precision, recall, size, misses = accuracy(name)
            print(f"{name}: {size} lines, precision {precision:.3f}, recall {recall:.3f}")
            for want, have, line in misses:
                print(f"  expected {want or '-'}, got {have or '-'}: {line[:160]}")
        else:
            print(f"{name}: {speed(name, args.lines):,.0f} lines per CPU-second ({args.lines:,} lines)")


if __name__ == "__main__":
    main()
