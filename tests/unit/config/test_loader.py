"""load_config: files, YAML, validation, warnings, flags and the embedded default, one behaviour per test."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from agent.config import loader
from agent.config.loader import (
    EMBEDDED_SOURCE,
    Overrides,
    default_positions_path,
    glob_problem,
    load_config,
)
from agent.errors import ConfigError, ConfigProblem

URL = "http://loki:3100/loki/api/v1/push"
MINIMAL = f"""
clients:
  - url: {URL}
scrape_configs:
  - job_name: system
    static_configs:
      - labels:
          job: varlogs
          __path__: /var/log/*.log
"""


@pytest.fixture
def write(tmp_path: Path) -> Any:
    """Write YAML text (dedented) to a file and return its path."""

    def _write(text: str, name: str = "config.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return str(path)

    return _write


def problems(path: str, **kwargs: Any) -> list[ConfigProblem]:
    """The problems loading `path` raises (the test fails if it loads)."""
    with pytest.raises(ConfigError) as caught:
        load_config(path, **kwargs)
    assert caught.value.source == path
    return caught.value.problems


class TestFiles:
    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file names the path and the flag to fix."""
        path = str(tmp_path / "nope.yaml")
        assert problems(path) == [
            ConfigProblem(
                "", f"config file {path} does not exist; pass the path of your Promtail config with -config.file"
            )
        ]

    def test_directory(self, tmp_path: Path) -> None:
        """A directory given as the config file is refused with a clear reason."""
        assert problems(str(tmp_path)) == [
            ConfigProblem("", f"{tmp_path} is a directory; -config.file needs the path of a YAML file")
        ]

    def test_unreadable_file(self, write: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """An unreadable file says permission denied and what to do."""
        path = write(MINIMAL)

        def denied(self: Path) -> bytes:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(Path, "read_bytes", denied)  # a chmod would not stop a test running as root
        assert problems(path) == [
            ConfigProblem(
                "", f"cannot read config file {path}: permission denied; run the agent as a user that can read it"
            )
        ]

    def test_not_utf8(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 are reported with their offset."""
        path = tmp_path / "latin1.yaml"
        path.write_bytes(b"server:\n  log_level: caf\xe9\n")
        assert problems(str(path)) == [
            ConfigProblem("", f"config file {path} is not UTF-8 text (invalid byte at offset 24)")
        ]

    def test_source_is_the_path(self, write: Any) -> None:
        """A loaded config remembers which file it came from."""
        path = write(MINIMAL)
        assert load_config(path).source == path


class TestYaml:
    def test_empty_file(self, write: Any) -> None:
        """An empty file is an error, not an empty config."""
        assert problems(write("")) == [ConfigProblem("", "config file is empty")]

    def test_comments_only(self, write: Any) -> None:
        """A file of comments is empty too."""
        assert problems(write("# nothing here\n\n")) == [ConfigProblem("", "config file is empty")]

    def test_top_level_list(self, write: Any) -> None:
        """The top level must be a mapping."""
        assert problems(write("- url: x\n")) == [
            ConfigProblem(
                "", "the top level must be a mapping of sections (server, clients, scrape_configs), got a list"
            )
        ]

    def test_syntax_error_line_and_column(self, write: Any) -> None:
        """A YAML syntax error gives line and column."""
        path = write("server:\n  http_listen_port: 9080\n  log_level: info: debug\n")
        assert problems(path) == [
            ConfigProblem("", "invalid YAML: line 3, column 18: mapping values are not allowed here")
        ]

    def test_tab_indentation(self, write: Any) -> None:
        """A tab used for indentation gets a hint."""
        path = write("server:\n\thttp_listen_port: 9080\n")
        assert problems(path) == [
            ConfigProblem(
                "",
                "invalid YAML: line 2, column 1: found character '\\t' that cannot start any token; "
                "YAML does not allow tabs for indentation, use spaces",
            )
        ]

    def test_duplicate_keys(self, write: Any) -> None:
        """Every duplicated key is reported with its path and both lines, as Go's decoder rejects them."""
        path = write(
            f"""\
            server:
              http_listen_port: 9080
              http_listen_port: 9081
            clients:
              - url: {URL}
                url: {URL}
            """
        )
        assert problems(path) == [
            ConfigProblem("server.http_listen_port", "duplicate key (first defined on line 2, again on line 3)"),
            ConfigProblem("clients[0].url", "duplicate key (first defined on line 5, again on line 6)"),
        ]

    def test_merge_keys_are_not_duplicates(self, write: Any) -> None:
        """A key that overrides one merged in with `<<` is allowed."""
        path = write(
            f"""\
            x-client: &client
              url: {URL}
              batchwait: 1s
            clients:
              - <<: *client
                batchwait: 5s
            """
        )
        with pytest.raises(ConfigError) as caught:  # x-client is not a Promtail key; nothing else is wrong
            load_config(path)
        assert caught.value.problems == [ConfigProblem("x-client", "unknown key (did you mean 'client'?)")]

    def test_scalars_stay_text_for_string_fields(self, write: Any) -> None:
        """Unquoted numbers, versions and yes/no reach string fields as written, as Go's decoder gives them."""
        path = write(
            f"""\
            clients:
              - url: {URL}
                tenant_id: 0042
                basic_auth: {{username: 123456, password: 1.10}}
                external_labels: {{enabled: yes, ratio: 1e3, ts: 2024-01-01}}
            """
        )
        client = load_config(path).config.clients[0]
        assert client.tenant_id == "0042"
        assert client.basic_auth is not None
        assert (client.basic_auth.username, client.basic_auth.password) == ("123456", "1.10")
        assert client.external_labels == {"enabled": "yes", "ratio": "1e3", "ts": "2024-01-01"}

    def test_scalars_convert_for_typed_fields(self, write: Any) -> None:
        """Typed fields still get their types: ints, booleans (yes/on too), durations."""
        path = write("server:\n  http_listen_port: 3101\n  disable: on\npositions:\n  sync_period: 1m30s\n")
        config = load_config(path).config
        assert (config.server.http_listen_port, config.server.disable) == (3101, True)
        assert config.positions.sync_period == 90.0

    def test_empty_sections_keep_defaults(self, write: Any) -> None:
        """`positions:` or `limits_config:` left empty keep their defaults, as in Promtail."""
        config = load_config(write("server:\npositions:\nlimits_config:\nscrape_configs:\n")).config
        assert config.positions.filename == "/var/log/positions.yaml"
        assert config.server.http_listen_port == 9080
        assert config.scrape_configs == []

    def test_empty_label_value_is_empty_string(self, write: Any) -> None:
        """An empty value in a label map is "", as Go decodes it."""
        path = write(f"clients:\n  - url: {URL}\n    external_labels:\n      env:\n")
        assert load_config(path).config.clients[0].external_labels == {"env": ""}


class TestValidation:
    def test_all_problems_at_once(self, write: Any) -> None:
        """A config with three mistakes yields three problems, in file order."""
        path = write(
            """\
            server:
              http_listen_port: abc
            clients:
              - url: 10.0.0.1:3100/loki/api/v1/push
                batchwiat: 1s
            """
        )
        assert problems(path) == [
            ConfigProblem("server.http_listen_port", "expected an integer, got 'abc'"),
            ConfigProblem(
                "clients[0].url",
                "'10.0.0.1:3100/loki/api/v1/push' is not an absolute http(s) URL; "
                "write it as http://host:3100/loki/api/v1/push",
            ),
            ConfigProblem("clients[0].batchwiat", "unknown key (did you mean 'batchwait'?)"),
        ]

    def test_did_you_mean_top_level(self, write: Any) -> None:
        """A misspelt section gets a suggestion."""
        assert problems(write("scrape_config: []\n")) == [
            ConfigProblem("scrape_config", "unknown key (did you mean 'scrape_configs'?)")
        ]

    def test_wrong_type_boolean(self, write: Any) -> None:
        """A boolean field says what it expected and what it got."""
        assert problems(write("server:\n  disable: maybe\n")) == [
            ConfigProblem("server.disable", "expected true or false, got 'maybe'")
        ]

    def test_wrong_shape(self, write: Any) -> None:
        """A list where a mapping belongs is named as such."""
        assert problems(write("positions: [a]\n")) == [ConfigProblem("positions", "expected a mapping, got a list")]

    def test_empty_required_key(self, write: Any) -> None:
        """`job_name:` with no value is a missing key."""
        assert problems(write("scrape_configs:\n  - job_name:\n")) == [
            ConfigProblem("scrape_configs[0].job_name", "required key is missing")
        ]

    def test_bad_duration(self, write: Any) -> None:
        """A duration without a unit is refused with an example."""
        assert problems(write("positions:\n  sync_period: 10\n")) == [
            ConfigProblem(
                "positions.sync_period", "invalid duration '10': use a number with a unit such as 10s, 500ms or 1m30s"
            )
        ]

    def test_duplicate_job_names(self, write: Any) -> None:
        """Two scrape configs with one job name are refused, as Promtail does."""
        path = write("scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: a\n")
        assert problems(path) == [
            ConfigProblem(
                "scrape_configs[2].job_name",
                "job name 'a' is already used by scrape_configs[0]; job names must be unique",
            )
        ]

    def test_no_clients_is_not_an_error(self, write: Any) -> None:
        """A config without clients passes (the app decides, as -check-syntax passes in Promtail)."""
        loaded = load_config(write("scrape_configs: []\n"))
        assert loaded.config.all_clients() == []

    def test_relabel_problem_path(self, write: Any) -> None:
        """A relabel rule's problem names the rule."""
        path = write("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: replace\n")
        assert problems(path) == [
            ConfigProblem("scrape_configs[0].relabel_configs[0]", "relabel action 'replace' needs a target_label")
        ]

    def test_url_password_not_shown(self, write: Any) -> None:
        """A URL rejected for its host does not print its password."""
        path = write("clients:\n  - url: https://user:hunter2@{host}/push\n")
        assert problems(path) == [
            ConfigProblem(
                "clients[0].url",
                "'https://user:<secret>@{host}/push' is not a valid URL: invalid character '{' in the host name",
            )
        ]


HINT = "write it as http://host:3100/loki/api/v1/push"


class TestClientURL:
    """A url Go's url.Parse accepts (so Promtail does) but no push can succeed with is a warning, not an error."""

    def test_unexpanded_variable_warns(self, write: Any) -> None:
        """Without expand-env, `${LOKI_URL}` is a relative URL: the client is kept, the warning says why."""
        loaded = load_config(write("clients:\n  - url: ${LOKI_URL}\n"))
        assert loaded.warnings == [
            ConfigProblem(
                "clients[0].url",
                f"'${{LOKI_URL}}' is not an absolute http(s) URL; {HINT}; "
                "${LOKI_URL} is expanded only with -config.expand-env=true",
            )
        ]
        assert [c.url for c in loaded.config.clients] == ["${LOKI_URL}"]

    @pytest.mark.parametrize(
        "url", ["loki:3100/loki/api/v1/push", "localhost:3100", "ftp://loki/push", "/loki/api/v1/push"]
    )
    def test_not_http_warns(self, write: Any, url: str) -> None:
        """`loki:3100/...` is scheme `loki` to Go, `/loki/...` a path: accepted, and warned about."""
        loaded = load_config(write(f"clients:\n  - url: {url}\n"))
        assert loaded.warnings == [ConfigProblem("clients[0].url", f"{url!r} is not an absolute http(s) URL; {HINT}")]

    def test_no_host_warns(self, write: Any) -> None:
        """An http URL without a host name cannot be pushed to."""
        loaded = load_config(write("clients:\n  - url: http://:3100/loki/api/v1/push\n"))
        assert loaded.warnings == [
            ConfigProblem("clients[0].url", f"'http://:3100/loki/api/v1/push' has no host; {HINT}")
        ]

    @pytest.mark.parametrize("entry", ["url:", "url: ''", "tenant_id: a"], ids=["null", "empty", "missing"])
    def test_empty_url_warns(self, write: Any, entry: str) -> None:
        """An empty, null or missing url is no URL to Promtail (it starts no such client): a warning."""
        loaded = load_config(write(f"clients:\n  - {entry}\n"))
        assert loaded.warnings == [ConfigProblem("clients[0].url", f"empty url: this client cannot push; {HINT}")]
        assert len(loaded.config.clients) == 1

    def test_unset_variable_warns_once(self, write: Any) -> None:
        """With expand-env, the unset variable's own warning explains the empty url; it is not repeated."""
        loaded = load_config(write("clients:\n  - url: ${LOKI_URL}/loki/api/v1/push\n"), expand_env=True, environ={})
        assert loaded.warnings == [
            ConfigProblem(
                "clients[0].url", "${LOKI_URL} on line 2 expanded to an empty string because LOKI_URL is not set"
            ),
            ConfigProblem("clients[0].url", f"'/loki/api/v1/push' is not an absolute http(s) URL; {HINT}"),
        ]

    def test_flag_url_warns_under_the_flag(self, write: Any) -> None:
        """-client.url loki:3100 is accepted as Promtail does, and the warning names the flag."""
        loaded = load_config(write("scrape_configs: []\n"), overrides=Overrides(client_url="loki:3100"))
        assert loaded.warnings == [ConfigProblem("-client.url", f"'loki:3100' is not an absolute http(s) URL; {HINT}")]
        assert loaded.config.client is not None

    def test_singular_client_with_empty_url_is_no_client(self, write: Any) -> None:
        """`client: {url: ''}` is no client (Go reads "" as no URL), as `client:` without url."""
        loaded = load_config(write("client:\n  url: ''\n  batchwait: 5s\n"))
        assert (loaded.config.all_clients(), loaded.warnings) == ([], [])

    def test_url_go_rejects_is_an_error(self, write: Any) -> None:
        """A url Go's url.Parse refuses (Promtail fails -check-syntax) stays an error, with Go's reason."""
        path = write("clients:\n  - url: http://loki:31OO/loki/api/v1/push\n")
        assert problems(path) == [
            ConfigProblem(
                "clients[0].url",
                "'http://loki:31OO/loki/api/v1/push' is not a valid URL: invalid port ':31OO' after the host",
            )
        ]


class TestStages:
    def test_pipelines_by_job(self, write: Any, fake_stages: dict[str, type[Any]]) -> None:
        """Each job's stages are validated into specs with their YAML paths."""
        path = write(MINIMAL + "    pipeline_stages:\n      - fake: {expression: '^(?P<x>.*)$'}\n")
        specs = load_config(path).pipelines["system"]
        assert [(s.name, s.path, s.config.expression) for s in specs] == [
            ("fake", "scrape_configs[0].pipeline_stages[0].fake", "^(?P<x>.*)$")
        ]

    def test_stage_problems_with_model_problems(self, write: Any, fake_stages: dict[str, type[Any]]) -> None:
        """Stage problems come with the rest, each at its path; a typo gets a suggestion."""
        path = write(
            """\
            server: {http_listen_port: abc}
            scrape_configs:
              - job_name: a
                pipeline_stages:
                  - fake: {source: x}
                  - faek: {expression: x}
                  - {fake: {expression: x}, other: {}}
            """
        )
        assert problems(path) == [
            ConfigProblem("server.http_listen_port", "expected an integer, got 'abc'"),
            ConfigProblem("scrape_configs[0].pipeline_stages[0].fake.expression", "required key is missing"),
            ConfigProblem("scrape_configs[0].pipeline_stages[1].faek", "unknown stage 'faek' (did you mean 'fake'?)"),
            ConfigProblem(
                "scrape_configs[0].pipeline_stages[2]",
                "a stage is a mapping with exactly one key (the stage name), got: fake, other",
            ),
        ]

    def test_pipeline_not_a_list(self, write: Any, fake_stages: dict[str, type[Any]]) -> None:
        """A pipeline that is not a list is one problem, not two."""
        path = write("scrape_configs:\n  - job_name: a\n    pipeline_stages: {fake: {}}\n")
        assert problems(path) == [
            ConfigProblem("scrape_configs[0].pipeline_stages", "expected a list of stages, got dict")
        ]

    def test_empty_pipeline(self, write: Any, fake_stages: dict[str, type[Any]]) -> None:
        """`pipeline_stages:` left empty is an empty pipeline."""
        assert load_config(write("scrape_configs:\n  - job_name: a\n    pipeline_stages:\n")).pipelines == {"a": []}


class TestWarnings:
    def test_unsupported_target(self, write: Any) -> None:
        """A target kind the agent does not run yet is one warning naming the job."""
        path = write("scrape_configs:\n  - job_name: systemd\n    journal: {max_age: 12h}\n")
        assert load_config(path).warnings == [
            ConfigProblem("scrape_configs[0].journal", "not supported yet; job 'systemd' is skipped")
        ]

    def test_unsupported_target_next_to_files(self, write: Any) -> None:
        """A job with files and an unsupported target runs without the latter."""
        path = write(MINIMAL + "    kubernetes_sd_configs:\n      - role: pod\n")
        assert load_config(path).warnings == [
            ConfigProblem("scrape_configs[0].kubernetes_sd_configs", "not supported yet; job 'system' runs without it")
        ]

    def test_docker_sd_configs_are_supported(self, write: Any) -> None:
        """Files and containers in one job: no warning; the agent's own `start_from` is checked."""
        path = write(MINIMAL + "    docker_sd_configs:\n      - host: unix:///var/run/docker.sock\n")
        loaded = load_config(path)
        assert loaded.warnings == []
        assert loaded.config.scrape_configs[0].docker_sd_configs[0].start_from == "beginning"
        bad = write(MINIMAL + "    docker_sd_configs:\n      - start_from: yesterday\n", "bad.yaml")
        with pytest.raises(ConfigError) as caught:
            load_config(bad)
        assert [p.path for p in caught.value.problems] == ["scrape_configs[0].docker_sd_configs[0].start_from"]

    def test_static_config_without_path(self, write: Any) -> None:
        """A static_configs entry without __path__ in a files-only job tails nothing: warned."""
        path = write("scrape_configs:\n  - job_name: a\n    static_configs:\n      - labels: {job: a}\n")
        assert load_config(path).warnings == [
            ConfigProblem(
                "scrape_configs[0].static_configs[0].labels.__path__",
                "missing: this static_configs entry tails no files; set it to a glob such as /var/log/*.log",
            )
        ]

    def test_path_from_relabeling(self, write: Any) -> None:
        """No warning when a relabel rule sets __path__."""
        path = write(
            """\
            scrape_configs:
              - job_name: a
                static_configs: [{labels: {job: a, app: web}}]
                relabel_configs:
                  - {source_labels: [app], target_label: __path__, replacement: /var/log/$1.log}
            """
        )
        assert load_config(path).warnings == []

    def test_bad_glob(self, write: Any) -> None:
        """A __path__ glob that cannot match is warned about."""
        path = write(
            "scrape_configs:\n  - job_name: a\n    static_configs: [{labels: {__path__: '/var/log/[ab.log'}}]\n"
        )
        assert load_config(path).warnings == [
            ConfigProblem(
                "scrape_configs[0].static_configs[0].labels.__path__",
                "glob '/var/log/[ab.log' has an unclosed '[' at position 9; it matches no files",
            )
        ]

    @pytest.mark.parametrize(
        ("pattern", "problem"),
        [
            pytest.param("/var/log/*.log", "", id="star"),
            pytest.param("/var/log/**/*.{log,txt}", "", id="doublestar-braces"),
            pytest.param("/var/log/[!a]*", "", id="negated-class"),
            pytest.param("/var/log/\\[x\\]", "", id="escaped-brackets"),
            pytest.param("", "empty glob", id="empty"),
            pytest.param("/var/log/{a,b", "glob '/var/log/{a,b' has an unclosed '{'", id="unclosed-brace"),
            pytest.param("/var/log/[]", "glob '/var/log/[]' has an unclosed '[' at position 9", id="empty-class"),
            pytest.param(
                "/var/log/x\\", "glob '/var/log/x\\\\' ends with an unfinished escape '\\'", id="trailing-escape"
            ),
        ],
    )
    def test_glob_problem(self, pattern: str, problem: str) -> None:
        """glob_problem accepts doublestar syntax and names what is broken."""
        assert glob_problem(pattern) == problem

    def test_tracing_and_wal_enabled(self, write: Any) -> None:
        """Tracing and the WAL are accepted; enabling them warns."""
        path = write("tracing: {enabled: true}\nwal: {enabled: yes, dir: /wal}\n")
        assert load_config(path).warnings == [
            ConfigProblem("tracing.enabled", "not supported; the agent sends no traces"),
            ConfigProblem(
                "wal.enabled",
                "not supported; positions advance only when Loki acknowledges a batch, so nothing is lost",
            ),
        ]

    def test_tracing_disabled(self, write: Any) -> None:
        """`tracing: {enabled: false}` is silent."""
        assert load_config(write("tracing: {enabled: false}\n")).warnings == []


class TestOverrides:
    def test_client_url_on_config_without_clients(self) -> None:
        """-client.url gives corpus config 003 (no clients block) its client."""
        path = str(Path(__file__).resolve().parents[2] / "data/promtail-configs/003_windows-paths-noclients.yaml")
        config = load_config(path, overrides=Overrides(client_url=URL)).config
        assert [c.url for c in config.all_clients()] == [URL]
        assert config.positions.filename == "C:/positions.yaml"

    def test_client_url_fills_the_client_block(self) -> None:
        """-client.url completes corpus config 050's url-less `client` block (timeouts, backoff, ...)."""
        path = str(Path(__file__).resolve().parents[2] / "data/promtail-configs/050_windows-k8s-docker.yaml")
        config = load_config(path, overrides=Overrides(client_url=URL)).config
        client = config.all_clients()[0]
        assert (client.url, client.backoff_config.max_period) == (URL, 300.0)

    def test_client_block_without_url_is_no_client(self, write: Any) -> None:
        """Without -client.url, a `client` block lacking url is not a client, as in Promtail."""
        assert load_config(write("client: {batchwait: 5s}\n")).config.all_clients() == []

    def test_client_block_without_url_is_still_checked(self, write: Any) -> None:
        """A misspelt key in a url-less `client` block is still reported."""
        assert problems(write("client: {urll: x}\n")) == [
            ConfigProblem("client.urll", "unknown key (did you mean 'url'?)")
        ]

    def test_flag_overrides_yaml(self, write: Any) -> None:
        """Flags win over the YAML: client url, tenant, positions file, port, log level."""
        path = write(
            f"client: {{url: {URL}, tenant_id: a}}\npositions: {{filename: /a}}\nserver: {{log_level: info}}\n"
        )
        overrides = Overrides(
            client_url="http://other:3100/loki/api/v1/push",
            client_tenant_id="b",
            positions_file="/b",
            http_listen_port=3101,
            log_level="debug",
        )
        config = load_config(path, overrides=overrides).config
        assert config.client is not None
        assert (config.client.url, config.client.tenant_id) == ("http://other:3100/loki/api/v1/push", "b")
        assert (config.positions.filename, config.server.http_listen_port, config.server.log_level) == (
            "/b",
            3101,
            "debug",
        )

    def test_external_labels_reach_every_client(self, write: Any) -> None:
        """-client.external-labels labels the flag client and every `clients` entry; an entry's own labels win."""
        path = write(
            f"""\
            clients:
              - url: {URL}
                external_labels: {{env: staging}}
              - url: {URL}
            """
        )
        overrides = Overrides(client_url=URL, client_external_labels="env=prod,host=web-1")
        labels = [c.external_labels for c in load_config(path, overrides=overrides).config.all_clients()]
        assert labels == [
            {"env": "staging", "host": "web-1"},
            {"env": "prod", "host": "web-1"},
            {"env": "prod", "host": "web-1"},
        ]

    def test_external_labels_without_client_url(self, write: Any) -> None:
        """Without -client.url the labels still reach the `clients` entries."""
        path = write(f"clients:\n  - url: {URL}\n")
        config = load_config(path, overrides=Overrides(client_external_labels="host=web-1")).config
        assert [c.external_labels for c in config.all_clients()] == [{"host": "web-1"}]

    def test_yaml_client_labels_reach_clients(self, write: Any) -> None:
        """The singular client's YAML external_labels are merged into `clients`, as Promtail's Setup does."""
        path = write(f"client: {{external_labels: {{dc: eu}}}}\nclients:\n  - url: {URL}\n")
        assert [c.external_labels for c in load_config(path).config.all_clients()] == [{"dc": "eu"}]

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            pytest.param(
                "host",
                "expected comma-separated name=value pairs such as host=web-1,env=prod, got 'host'",
                id="no-equals",
            ),
            pytest.param(
                "1host=a",
                "'1host' is not a valid label name (letters, digits and _, not starting with a digit)",
                id="bad-name",
            ),
        ],
    )
    def test_bad_external_labels(self, write: Any, value: str, message: str) -> None:
        """A malformed -client.external-labels is reported under the flag's name."""
        path = write(f"clients:\n  - url: {URL}\n")
        assert problems(path, overrides=Overrides(client_external_labels=value)) == [
            ConfigProblem("-client.external-labels", message)
        ]

    def test_bad_flag_values_name_the_flag(self, write: Any) -> None:
        """Problems in flag values are reported under the flag's name, first."""
        path = write("server: {http_listen_port: abc}\n")
        overrides = Overrides(client_url="10.0.0.1:3100", log_level="verbose", http_listen_port=-1)
        assert problems(path, overrides=overrides) == [
            ConfigProblem("-log.level", "unknown level 'verbose'; use one of debug, info, warn, error"),
            ConfigProblem(
                "-client.url",
                "'10.0.0.1:3100' is not an absolute http(s) URL; write it as http://host:3100/loki/api/v1/push",
            ),
        ]

    def test_tenant_without_client(self, write: Any) -> None:
        """-client.tenant-id without a flag client has no effect, and says so."""
        loaded = load_config(write(f"clients:\n  - url: {URL}\n"), overrides=Overrides(client_tenant_id="t"))
        assert loaded.warnings == [ConfigProblem("-client.tenant-id", "ignored: it applies only with -client.url")]
        assert loaded.config.clients[0].tenant_id == ""


class TestEmbeddedDefault:
    def test_embedded_default(self) -> None:
        """No path: the embedded config tails /var/log and pushes to a local Loki, labelled with the host."""
        loaded = load_config(None, environ={"HOSTNAME": "web-1", "AGENT_STATE_DIR": "/srv/agent"})
        config = loaded.config
        assert loaded.source == EMBEDDED_SOURCE
        assert loaded.warnings == []
        assert [c.url for c in config.all_clients()] == ["http://127.0.0.1:3100/loki/api/v1/push"]
        assert config.server.http_listen_port == 9080
        assert config.positions.filename == "/srv/agent/positions.yaml"
        (job,) = config.scrape_configs
        assert job.job_name == "varlogs"
        assert [s.labels for s in job.static_configs] == [
            {"job": "varlogs", "host": "web-1", "__path__": "/var/log/*.log"},
            {"job": "varlogs", "host": "web-1", "__path__": "/var/log/syslog"},
        ]

    def test_embedded_default_hostname(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without $HOSTNAME the host label is the machine's hostname."""
        monkeypatch.setattr(loader.socket, "gethostname", lambda: "box")
        config = load_config(None, environ={"AGENT_STATE_DIR": "/s"}).config
        assert config.scrape_configs[0].static_configs[0].labels["host"] == "box"

    def test_embedded_default_takes_flags(self) -> None:
        """Flags override the embedded config too."""
        config = load_config(None, environ={}, overrides=Overrides(client_url=URL, positions_file="/p")).config
        assert config.client is not None
        assert config.client.url == URL
        assert config.positions.filename == "/p"

    @pytest.mark.parametrize(
        ("environ", "euid", "expected"),
        [
            pytest.param({"AGENT_STATE_DIR": "/a", "STATE_DIRECTORY": "/s"}, 0, "/a/positions.yaml", id="agent-dir"),
            pytest.param({"STATE_DIRECTORY": "/s1:/s2"}, 1000, "/s1/positions.yaml", id="systemd"),
            pytest.param({}, 0, "/var/lib/agent/positions.yaml", id="root"),
            pytest.param({"HOME": "/home/u"}, 1000, "/home/u/.local/state/agent/positions.yaml", id="user"),
            pytest.param({"XDG_STATE_HOME": "/x"}, 1000, "/x/agent/positions.yaml", id="xdg"),
        ],
    )
    def test_default_positions_path(
        self, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], euid: int, expected: str
    ) -> None:
        """The embedded config's positions file follows the service manager, then root or the user's home."""
        monkeypatch.setattr(loader.os, "geteuid", lambda: euid)
        assert default_positions_path(environ) == expected

    def test_user_config_keeps_promtail_default(self, write: Any) -> None:
        """A user config without positions.filename keeps Promtail's /var/log/positions.yaml."""
        assert load_config(write(MINIMAL)).config.positions.filename == "/var/log/positions.yaml"
