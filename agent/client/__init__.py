"""Shipping entries to Loki: `loki.LokiClient` (send, retry, acknowledge), `batch` and `encode` (pure), `backoff`.

Nothing is imported here on purpose: `agent.client.config` is read by the config loader, which should not pull
in httpx and snappy. Import `agent.client.loki.LokiClient` where a client is built (`agent.app`).
"""
