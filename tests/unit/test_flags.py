"""Command-line flags are read as Promtail's Go flag package reads them."""

from __future__ import annotations

import pytest

from agent.flags import UsageError, parse_flags


class TestParseFlags:
    @pytest.mark.parametrize(
        "argv",
        [
            pytest.param(["-config.file=a.yaml"], id="one-dash-equals"),
            pytest.param(["-config.file", "a.yaml"], id="one-dash-space"),
            pytest.param(["--config.file", "a.yaml"], id="two-dashes"),
            pytest.param(["--config.file=a.yaml"], id="two-dashes-equals"),
        ],
    )
    def test_value_flag_spellings(self, argv: list[str]) -> None:
        """Every spelling Go accepts sets the config file."""
        assert parse_flags(argv).config_file == "a.yaml"

    def test_boolean_flags(self) -> None:
        """Booleans take no value, or an explicit true/false after '='."""
        flags = parse_flags(["-dry-run", "-config.expand-env=true", "-stdin=false"])
        assert (flags.dry_run, flags.config_expand_env, flags.stdin) == (True, True, False)

    def test_all_promtail_flags_parse(self) -> None:
        """The flags Promtail users pass are all understood."""
        flags = parse_flags(
            [
                "-client.url",
                "http://loki:3100/loki/api/v1/push",
                "-client.tenant-id",
                "team",
                "-client.external-labels",
                "host=a,dc=b",
                "-positions.file",
                "/tmp/p.yaml",
                "-server.http-listen-port",
                "9081",
                "-log.level",
                "debug",
                "-check-syntax",
                "-print-config-stderr",
                "-inspect",
                "-version",
            ]
        )
        assert flags.client_url == "http://loki:3100/loki/api/v1/push"
        assert flags.client_tenant_id == "team"
        assert flags.client_external_labels == "host=a,dc=b"
        assert flags.positions_file == "/tmp/p.yaml"
        assert flags.server_http_listen_port == 9081
        assert flags.log_level == "debug"
        assert flags.check_syntax
        assert flags.print_config_stderr
        assert flags.inspect
        assert flags.version

    def test_subcommand_stops_parsing(self) -> None:
        """Arguments after the first non-flag are left for the subcommand."""
        assert parse_flags(["-log.level", "warn", "doctor", "-format", "json"]).args == [
            "doctor",
            "-format",
            "json",
        ]

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            pytest.param(["-config.fil", "x"], "flag provided but not defined: -config.fil", id="unknown"),
            pytest.param(["-config.file"], "flag needs an argument: -config.file", id="missing-value"),
            pytest.param(["-dry-run=maybe"], "invalid boolean value 'maybe' for -dry-run", id="bad-bool"),
            pytest.param(
                ["-server.http-listen-port", "http"],
                "invalid value 'http' for -server.http-listen-port: expected a port number",
                id="bad-port",
            ),
        ],
    )
    def test_usage_errors(self, argv: list[str], message: str) -> None:
        """A wrong command line is refused with Go's wording."""
        with pytest.raises(UsageError) as error:
            parse_flags(argv)
        assert str(error.value) == message
