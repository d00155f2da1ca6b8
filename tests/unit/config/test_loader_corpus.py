"""The 60 real Promtail configs in tests/data/promtail-configs load (or fail) as Promtail 3.4.6 decided.

INDEX.md records `promtail -check-syntax` for each file, plainly and with `-config.expand-env=true`. Every
file Promtail accepts in a mode loads here in that mode, warning only about targets not supported yet and
about client URLs no push can succeed with (URL_WARNINGS). Files 025, 027 and 029 also load with
expand-env, where Promtail's backslash-eating envsubst breaks them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.config.loader import load_config
from agent.config.model import UNSUPPORTED_TARGETS
from agent.errors import ConfigError, ConfigProblem

CORPUS = Path(__file__).resolve().parents[2] / "data" / "promtail-configs"
EXPAND = "expand-env"
PLAIN = "plain"


def _promtail_results() -> dict[str, dict[str, bool]]:
    """File name -> {mode: accepted by Promtail}, from INDEX.md's "promtail 3.4.6 check" column."""
    results: dict[str, dict[str, bool]] = {}
    for line in (CORPUS / "INDEX.md").read_text(encoding="utf-8").splitlines():
        if re.match(r"^\| \d{3} \|", line):
            cells = [cell.strip() for cell in line.split("|")]
            plain, expand = (part.strip() for part in cells[9].split("/"))
            results[cells[2].strip("`")] = {PLAIN: plain == "ok", EXPAND: expand == "ok"}
    return results


PROMTAIL = _promtail_results()
REJECTED = ("057", "058", "059", "060")

# Realistic values for every variable the corpus refers to, so that expansion yields working configs.
CORPUS_ENV = {
    "CLIENT_URL": "http://loki:3100/loki/api/v1/push",
    "CLOUD_PROVIDER": "aws",
    "FAIL2BAN_LOG_PATH": "/var/log/fail2ban.log",
    "GRPC_PORT": "9095",
    "HOSTNAME": "web-1",
    "HOST_HOSTNAME": "web-1",
    "HTTP_AUTH_PASSWORD": "s3cret",
    "HTTP_AUTH_USERNAME": "promtail",
    "INSTANCE": "web-1",
    "JOB_NAME": "render",
    "KUBERNETES_CLUSTER": "prod-1",
    "LOKI_API_KEY": "glc_key",
    "LOKI_BASIC_AUTH_PASSWORD": "s3cret",
    "LOKI_BASIC_AUTH_USERNAME": "123456",
    "LOKI_HOST": "logs.example.com",
    "LOKI_PASS": "s3cret",
    "LOKI_PASSWORD": "s3cret",
    "LOKI_PORT": "443",
    "LOKI_PUSH_URL": "http://loki:3100/loki/api/v1/push",
    "LOKI_TENANT_ID": "123456",
    "LOKI_TOKEN": "glc_token",
    "LOKI_URL": "http://loki:3100/loki/api/v1/push",
    "LOKI_USER": "123456",
    "LOKI_USERNAME": "123456",
    "NAMESPACE": "monitoring",
    "NGINX_ENV": "prod",
    "NGINX_HOST": "web-1",
    "PORT": "9080",
    "PROMTAIL_CLIENT_BASIC_AUTH_PASSWORD": "s3cret",
    "PROMTAIL_CLIENT_BASIC_AUTH_USERNAME": "promtail",
    "PROMTAIL_CLIENT_URL": "https://loki.example.com/loki/api/v1/push",
    "PROMTAIL_ENV": "prod",
    "PROMTAIL_HOST": "0.0.0.0",
    "PROMTAIL_HTTP_DISABLED": "false",
    "PROMTAIL_JOB_NAME": "mongodb",
    "PROMTAIL_LOG_PATH": "/var/log/mongodb/*.log",
    "PROMTAIL_LOKI": "http://loki:3100",
    "PROMTAIL_PASSWORD": "s3cret",
    "PROMTAIL_PORT": "9080",
    "PROMTAIL_POSITIONS": "/var/lib/promtail/positions.yaml",
    "PROMTAIL_PUSH_URL": "http://loki:3100/loki/api/v1/push",
    "PROMTAIL_SEND_URL": "http://loki:3100/loki/api/v1/push",
    "PROMTAIL_SERVER_NAME": "web-1",
    "PROMTAIL_TOKEN": "glc_token",
    "PROMTAIL_URL": "logs.example.com/loki/api/v1/push",
    "PROMTAIL_USER_ID": "123456",
    "PROMTAIL_USERNAME": "promtail",
    "SYSLOG_PORT": "1514",
    "UW_ENVIRONMENT": "prod",
}


def _group_reference_warning(path: str, ref: str, line: int) -> ConfigProblem:
    message = f"${{{ref}}} on line {line} expanded to an empty string because {ref} is not set"
    return ConfigProblem(path, f"{message}; write $${{{ref}}} to keep a regex group reference")


# With expand-env, Promtail also turns a relabel `${1}` into an empty string (no variable "1" is set); the
# agent does the same, and says so. These are the corpus' regex group references written as `${N}`.
EXPAND_WARNINGS = {
    "012_greg-zone-docker-sd-pipeline.yaml": [
        _group_reference_warning("scrape_configs[0].relabel_configs[2].replacement", "1", 29),
        _group_reference_warning("scrape_configs[0].relabel_configs[2].replacement", "1", 29),
        _group_reference_warning("scrape_configs[1].relabel_configs[2].replacement", "1", 94),
        _group_reference_warning("scrape_configs[1].relabel_configs[2].replacement", "1", 94),
    ],
    "020_dockerswarm-sd.yaml": [
        _group_reference_warning("scrape_configs[1].relabel_configs[10].replacement", "1", 96),
    ],
    "049_knowit-k8s-cri.yaml": [
        _group_reference_warning("scrape_configs[0].relabel_configs[6].replacement", ref, 33)
        for ref in ("1", "2", "3", "4")
    ],
    "055_loki-docker-sd-file-sd.yaml": [
        _group_reference_warning("scrape_configs[0].relabel_configs[0].replacement", "1", 22),
    ],
}

_URL_HINT = "write it as http://host:3100/loki/api/v1/push"

# Client URLs that Promtail's -check-syntax accepts but no push can succeed with: Go's url.Parse takes
# `${LOKI_URL}` (unexpanded) or `__LOKI_URL__/loki/api/v1/push` for a relative URL, and an empty `url:` is no
# URL at all ("client needs target URL" when Promtail starts the client). The config loads, the client is
# kept, and the loader warns at its url with the reason (the app refuses to start that client).
URL_WARNINGS: dict[tuple[str, str], list[ConfigProblem]] = {
    **{
        (name, PLAIN): [
            ConfigProblem(
                path,
                f"{value!r} is not an absolute http(s) URL; {_URL_HINT}; "
                f"{ref} is expanded only with -config.expand-env=true",
            )
        ]
        for name, path, value, ref in (
            ("005_deploy-promtail-env.yaml", "clients[0].url", "${LOKI_URL}", "${LOKI_URL}"),
            ("006_demostf-env.yaml", "clients[0].url", "${LOKI_URL}", "${LOKI_URL}"),
            ("022_fail2ban-multiline-env.yaml", "clients[0].url", "${LOKI_PUSH_URL}", "${LOKI_PUSH_URL}"),
            ("031_mongodb-limits-config-env.yaml", "clients[0].url", "${PROMTAIL_PUSH_URL}", "${PROMTAIL_PUSH_URL}"),
            (
                "036_mylab-multiline-replace-env.yaml",
                "client.url",
                "${PROMTAIL_LOKI}/loki/api/v1/push",
                "${PROMTAIL_LOKI}",
            ),
            ("037_syslog-rsyslog-relay-env.yaml", "clients[0].url", "${CLIENT_URL}", "${CLIENT_URL}"),
            ("044_ns8-journal-env.yaml", "clients[0].url", "${LOKI_URL}", "${LOKI_URL}"),
        )
    },
    **{
        ("019_openrelik-large.yaml", mode): [
            ConfigProblem(
                "clients[0].url", f"'__LOKI_URL__/loki/api/v1/push' is not an absolute http(s) URL; {_URL_HINT}"
            )
        ]
        for mode in (PLAIN, EXPAND)
    },
    **{
        ("043_synology-journal.yaml", mode): [
            ConfigProblem("clients[0].url", f"empty url: this client cannot push; {_URL_HINT}")
        ]
        for mode in (PLAIN, EXPAND)
    },
}


def _cases(*, accepted: bool) -> list[object]:
    cases: list[object] = []
    for name, modes in sorted(PROMTAIL.items()):
        if name.startswith(REJECTED):
            continue
        # Expand-env runs every file Promtail accepts in some mode: the envsubst quirk is not copied.
        ok = {PLAIN: modes[PLAIN], EXPAND: True}
        for mode in (PLAIN, EXPAND):
            if ok[mode] == accepted:
                cases.append(pytest.param(name, mode, id=f"{name}-{mode}"))
    return cases


def _load(name: str, mode: str) -> list[ConfigProblem]:
    """Load a corpus file; return its warnings."""
    return load_config(str(CORPUS / name), expand_env=mode == EXPAND, environ=CORPUS_ENV).warnings


def test_index_covers_the_corpus() -> None:
    """INDEX.md has a row for each of the 60 YAML files, and Promtail accepts 56 of them in some mode."""
    assert sorted(PROMTAIL) == sorted(p.name for p in CORPUS.glob("*.yaml"))
    assert len(PROMTAIL) == 60
    assert sum(modes[PLAIN] or modes[EXPAND] for modes in PROMTAIL.values()) == 56


def test_environment_covers_every_reference() -> None:
    """CORPUS_ENV sets every `${NAME}` the corpus uses, except regex group numbers."""
    names = {m for p in CORPUS.glob("*.yaml") for m in re.findall(r"\$\{(\w+)", p.read_text(encoding="utf-8"))}
    assert {n for n in names if not n.isdigit()} == set(CORPUS_ENV)


# Stage keys Promtail ignores silently; the agent ignores them too, with a warning.
STAGE_WARNINGS = {
    "031_mongodb-limits-config-env.yaml": [
        ConfigProblem(
            "scrape_configs[0].pipeline_stages[7].template.destination", "unknown key, ignored as Promtail does"
        )
    ],
}


@pytest.mark.usefixtures("every_promtail_stage")
@pytest.mark.parametrize(("name", "mode"), _cases(accepted=True))
def test_loads_what_promtail_loads(name: str, mode: str) -> None:
    """The config loads; its only warnings are targets not supported yet, `${N}` with expand-env, URLs and
    stage keys Promtail ignores."""
    warnings = _load(name, mode)
    unsupported = [w for w in warnings if w.message.startswith("not supported yet; job ")]
    assert all(w.path.rpartition(".")[2] in UNSUPPORTED_TARGETS for w in unsupported)
    others = [w for w in warnings if w not in unsupported]
    expected = (EXPAND_WARNINGS.get(name, []) if mode == EXPAND else []) + URL_WARNINGS.get((name, mode), [])
    assert sorted(others, key=str) == sorted(expected + STAGE_WARNINGS.get(name, []), key=str)


@pytest.mark.usefixtures("every_promtail_stage")
@pytest.mark.parametrize(("name", "mode"), _cases(accepted=False))
def test_fails_where_promtail_fails(name: str, mode: str) -> None:
    """Without expand-env, a `${VAR}` in a URL, port or flag fails validation and the message says why."""
    assert mode == PLAIN
    with pytest.raises(ConfigError) as caught:
        _load(name, mode)
    assert caught.value.problems
    for problem in caught.value.problems:
        assert problem.message.endswith("expanded only with -config.expand-env=true"), problem


@pytest.mark.usefixtures("every_promtail_stage")
def test_fails_where_promtail_fails_at_these_paths() -> None:
    """The plain-mode failures sit exactly at the values that need expansion."""
    expected = {
        "004_loki-rpm-env-default.yaml": ["clients[0].url"],
        "007_observable-nginx-env.yaml": ["server.disable", "server.http_listen_port", "clients[0].url"],
        "010_dns-malw-docker-sd-env.yaml": ["clients[0].url"],
        "018_glance-docker-sd-env.yaml": ["clients[0].url"],
        "030_telemetry-client-singular-env.yaml": ["client.url"],
        "033_loggy-server-url-userinfo-env.yaml": ["clients[0].url"],
        "042_promtail-render-syslog-env.yaml": ["server.http_listen_port", "server.grpc_listen_port", "clients[0].url"],
        "048_abeyuki-k8s-staging-env.yaml": ["clients[0].url"],
    }
    assert sorted(expected) == sorted(n for n, modes in PROMTAIL.items() if not modes[PLAIN] and modes[EXPAND])
    for name, paths in expected.items():
        with pytest.raises(ConfigError) as caught:
            _load(name, PLAIN)
        assert [p.path for p in caught.value.problems] == paths, name


@pytest.mark.usefixtures("every_promtail_stage")
def test_plain_mode_url_message() -> None:
    """An unexpanded `${VAR}` in a URL's host is named, with the flag that would expand it."""
    with pytest.raises(ConfigError) as caught:
        _load("007_observable-nginx-env.yaml", PLAIN)
    assert caught.value.problems[2] == ConfigProblem(
        "clients[0].url",
        "'https://${LOKI_HOST}:${LOKI_PORT}/loki/api/v1/push' is not a valid URL: invalid port ':${LOKI_PORT}' "
        "after the host; ${LOKI_HOST}, ${LOKI_PORT} are expanded only with -config.expand-env=true",
    )


def test_url_warnings_cover_what_promtail_accepts() -> None:
    """URL_WARNINGS lists only (file, mode) pairs Promtail accepts: 7 plain `${VAR}` URLs, 019 and 043 twice."""
    assert all(PROMTAIL[name][mode] for name, mode in URL_WARNINGS)
    assert len(URL_WARNINGS) == 11


@pytest.mark.usefixtures("every_promtail_stage")
@pytest.mark.parametrize(("name", "mode"), [pytest.param(*key, id=f"{key[0]}-{key[1]}") for key in URL_WARNINGS])
def test_unusable_client_url_is_a_warning(name: str, mode: str) -> None:
    """A URL no push can succeed with loads with a warning at its path; the client is kept, and says why."""
    loaded = load_config(str(CORPUS / name), expand_env=mode == EXPAND, environ=CORPUS_ENV)
    [warning] = URL_WARNINGS[(name, mode)]
    assert [w for w in loaded.warnings if w.path == warning.path] == [warning]
    [client] = loaded.config.all_clients()
    assert client.push_url_problem is not None
    assert warning.message.startswith(client.push_url_problem)


@pytest.mark.usefixtures("every_promtail_stage")
@pytest.mark.parametrize("mode", [PLAIN, EXPAND])
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "057_broken-typo-bad-url.yaml",
            [
                ConfigProblem(
                    "clients[0].url",
                    f"'34.249.231.194:3100/loki/api/v1/push' is not an absolute http(s) URL; {_URL_HINT}",
                ),
                ConfigProblem("scrape_configs[0].static_config", "unknown key (did you mean 'static_configs'?)"),
                ConfigProblem("scrape_configs[1].static_config", "unknown key (did you mean 'static_configs'?)"),
            ],
            id="057-typo-and-url-without-scheme",
        ),
        pytest.param(
            "058_legacy-entry-parser-file-sd.yaml",
            [
                ConfigProblem(
                    "scrape_configs[0].entry_parser",
                    "unknown key: entry_parser was removed in Promtail 2.0; use pipeline_stages "
                    "(e.g. `- docker: {}` or `- cri: {}`)",
                )
            ],
            id="058-entry-parser",
        ),
        pytest.param(
            "059_broken-journal-relabel-nesting.yaml",
            [
                ConfigProblem(
                    "scrape_configs[2].journal.relabel_configs",
                    "unknown key: relabel_configs belongs to the scrape config itself, next to the target, "
                    "not inside it",
                )
            ],
            id="059-relabel-inside-journal",
        ),
        pytest.param(
            "060_broken-toplevel-pipeline-stages.yaml",
            [
                ConfigProblem(
                    "pipeline_stages",
                    "unknown key: pipeline_stages belongs inside a scrape config (scrape_configs[N].pipeline_stages)",
                )
            ],
            id="060-top-level-pipeline",
        ),
    ],
)
def test_rejects_what_promtail_rejects(name: str, expected: list[ConfigProblem], mode: str) -> None:
    """Each config Promtail rejects fails with every mistake named at its YAML path."""
    assert PROMTAIL[name] == {PLAIN: False, EXPAND: False}
    with pytest.raises(ConfigError) as caught:
        _load(name, mode)
    assert caught.value.problems == expected


@pytest.mark.usefixtures("every_promtail_stage")
def test_backslashes_survive_expansion() -> None:
    """The double-quoted regexes of 025 load identically with and without expand-env (Promtail fails)."""
    name = "025_logging-poc-metrics.yaml"
    assert PROMTAIL[name] == {PLAIN: True, EXPAND: False}
    plain = load_config(str(CORPUS / name))
    expanded = load_config(str(CORPUS / name), expand_env=True, environ={})
    assert plain.config == expanded.config
