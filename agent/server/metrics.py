"""Every metric the agent exposes, defined once. Components receive the `Metrics` object; none is global.

Promtail's names, label names and types are kept where Promtail has the metric, so existing dashboards and
alerts keep working. What Promtail lacks lives under the `agent_` prefix.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

# Promtail exposes no `_created` series; dashboards that sum by name would double count them.
disable_created_metrics()  # type: ignore[no-untyped-call]

_EVENT_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    """The agent's metrics, registered in `registry` (a fresh one per agent, so tests never share state)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # -- Promtail-compatible: file targets
        self.read_bytes = Counter("promtail_read_bytes", "Number of bytes read.", ["path"], registry=r)
        self.read_lines = Counter("promtail_read_lines", "Number of lines read.", ["path"], registry=r)
        self.file_bytes = Gauge("promtail_file_bytes_total", "Number of bytes total.", ["path"], registry=r)
        self.files_active = Gauge("promtail_files_active_total", "Number of active files.", registry=r)
        # -- Promtail-compatible: Docker targets
        self.docker_entries = Counter(
            "promtail_docker_target_entries", "Total number of successful entries sent to the Docker target.",
            registry=r,
        )
        self.docker_parsing_errors = Counter(
            "promtail_docker_target_parsing_errors",
            "Total number of parsing errors while receiving Docker messages.",
            registry=r,
        )
        # -- Promtail-compatible: config reloads (SIGHUP, POST /reload)
        self.reloads_succeeded = Counter(
            "promtail_config_reload_success", "Number of successful configuration reloads.", registry=r
        )
        self.reloads_failed = Counter(
            "promtail_config_reload_fail", "Number of configuration reloads that failed (the old one kept running).",
            registry=r,
        )
        # -- Promtail-compatible: clients
        self.sent_entries = Counter(
            "promtail_sent_entries", "Number of log entries sent to the ingester.", ["host"], registry=r
        )
        self.sent_bytes = Counter("promtail_sent_bytes", "Number of bytes sent.", ["host"], registry=r)
        self.encoded_bytes = Counter(
            "promtail_encoded_bytes", "Number of bytes encoded and ready to send.", ["host"], registry=r
        )
        self.dropped_entries = Counter(
            "promtail_dropped_entries",
            "Number of log entries dropped because they failed to be sent, were too long, or a stage dropped "
            "them.",
            ["host", "reason", "tenant"],
            registry=r,
        )
        self.dropped_bytes = Counter(
            "promtail_dropped_bytes",
            "Number of bytes dropped because they failed to be sent, were too long, or a stage dropped them.",
            ["host", "reason", "tenant"],
            registry=r,
        )
        self.request_duration = Histogram(
            "promtail_request_duration_seconds",
            "Duration of send requests.",
            ["status_code", "host", "tenant"],
            registry=r,
        )
        self.batch_retries = Counter(
            "promtail_batch_retries",
            "Number of times batches have had to be retried.",
            ["host", "tenant"],
            registry=r,
        )
        self.mutated_entries = Counter(
            "promtail_mutated_entries",
            "The total number of log entries that have been mutated (truncated).",
            ["host", "reason", "tenant"],
            registry=r,
        )
        self.mutated_bytes = Counter(
            "promtail_mutated_bytes",
            "The total number of bytes that have been mutated (truncated).",
            ["host", "reason", "tenant"],
            registry=r,
        )
        self.stream_lag = Gauge(
            "promtail_stream_lag_seconds",
            "Difference between current time and last batch timestamp.",
            ["host"],
            registry=r,
        )
        self.stage_dropped = Counter(
            "logentry_dropped_lines",
            "A count of all log lines dropped as a result of a pipeline stage.",
            ["reason"],
            registry=r,
        )
        self.stage_dropped_by_label = Counter(
            "logentry_dropped_lines_by_label",
            "A count of all log lines dropped as a result of a pipeline stage, by label.",
            ["label_name", "label_value"],
            registry=r,
        )
        # -- The agent's own
        self.ack_latency = Histogram(
            "agent_append_to_ack_seconds",
            "Time from an entry's timestamp to Loki acknowledging it (push latency as a user sees it).",
            ["host"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "agent_queue_depth_chunks", "Chunks waiting in a queue.", ["queue"], registry=r
        )
        self.unacked_bytes = Gauge(
            "agent_unacknowledged_bytes",
            "Bytes read from a file that no client has acknowledged yet (what a crash would re-send).",
            ["path"],
            registry=r,
        )
        self.errors = Counter(
            "agent_errors",
            "Errors the agent handled and kept going, by component and reason.",
            ["component", "reason"],
            registry=r,
        )
        self.non_standard_responses = Counter(
            "agent_push_unexpected_success",
            "Pushes answered with a 2xx other than 200/204 (Loki's 260: ingestion blocked).",
            ["host", "status_code"],
            registry=r,
        )
        self.client_up = Gauge(
            "agent_client_up",
            "1 when the client's last push succeeded, 0 while it is failing.",
            ["host"],
            registry=r,
        )
        self.docker_up = Gauge(
            "agent_docker_target_up",
            "1 while the Docker daemon of a docker_sd_configs entry answers, 0 while it cannot be reached.",
            ["job", "host"],
            registry=r,
        )
        self.docker_containers = Gauge(
            "agent_docker_containers", "Containers whose logs are being followed.", ["job"], registry=r
        )
        self.positions_saved = Counter(
            "agent_positions_saves", "Positions file saves, by result.", ["result"], registry=r
        )
        # -- Event pipelines (pipelines/): label values come from the closed vocabulary in pipelines/vocabulary.yaml
        self.events = Counter(
            "agent_events",
            "Security, performance and business events recognised by the event pipelines.",
            ["job", "event_category", "event_type"],
            registry=r,
        )
        self.event_duration = Histogram(
            "agent_event_duration_seconds",
            "Durations of HTTP requests, database queries and background tasks seen by event pipelines, slow or not.",
            ["job", "operation"],
            buckets=_EVENT_DURATION_BUCKETS,
            registry=r,
        )
        self.config_warnings = Gauge(
            "agent_config_warnings", "Config parts accepted but not run (unsupported targets).", registry=r
        )
