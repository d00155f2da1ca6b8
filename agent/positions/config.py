"""`positions:` as Promtail reads it."""

from __future__ import annotations

from agent.config.base import ConfigModel
from agent.config.units import Duration


class PositionsConfig(ConfigModel):
    """Where acknowledged read positions are kept.

    ```yaml
    positions:
      filename: /var/lib/agent/positions.yaml
      sync_period: 10s
      ignore_invalid_yaml: false
    ```
    """

    filename: str = "/var/log/positions.yaml"
    sync_period: Duration = 10.0
    ignore_invalid_yaml: bool = False
