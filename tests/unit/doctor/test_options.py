"""`agent doctor`'s command line: its own flags, with the agent's passed through in Go's flag syntax."""

from __future__ import annotations

import pytest

from agent.doctor.options import parse_doctor_args
from agent.flags import UsageError


class TestParseDoctorArgs:
    @pytest.mark.parametrize(
        "argv",
        [
            pytest.param(["-format", "json"], id="space"),
            pytest.param(["-format=json"], id="equals"),
            pytest.param(["--format", "json"], id="two-dashes"),
        ],
    )
    def test_format_spellings(self, argv: list[str]) -> None:
        """-format takes its value in every spelling Go's flag package accepts."""
        options, _ = parse_doctor_args(argv)
        assert options.format == "json"

    def test_agent_flags_pass_through(self) -> None:
        """The agent's flags mean what they mean to the agent, mixed with doctor's in any order."""
        options, flags = parse_doctor_args(
            ["-config.file", "a.yaml", "-doctor.skip-push", "-config.expand-env", "-doctor.prometheus-config=p.yml"]
        )
        assert (options.skip_push, options.prometheus_config) == (True, "p.yml")
        assert (flags.config_file, flags.config_expand_env) == ("a.yaml", True)

    def test_boolean_false(self) -> None:
        """-doctor.skip-push=false leaves the push on."""
        options, _ = parse_doctor_args(["-doctor.skip-push=false"])
        assert options.skip_push is False

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            pytest.param(["-format", "yaml"], "invalid value 'yaml' for -format: use text or json", id="bad-format"),
            pytest.param(["-format"], "flag needs an argument: -format", id="no-value"),
            pytest.param(["-nope"], "flag provided but not defined: -nope", id="unknown"),
            pytest.param(["extra"], "agent doctor takes no arguments, got 'extra'", id="argument"),
            pytest.param(["-doctor.skip-push=maybe"], "invalid boolean value 'maybe' for -doctor.skip-push",
                         id="bad-bool"),
        ],
    )
    def test_usage_errors(self, argv: list[str], message: str) -> None:
        """A wrong command line is refused with Go's wording."""
        with pytest.raises(UsageError) as caught:
            parse_doctor_args(argv)
        assert str(caught.value) == message
