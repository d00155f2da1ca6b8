"""Acknowledged read positions: `store` (the positions file, records and trackers) and `config`."""
