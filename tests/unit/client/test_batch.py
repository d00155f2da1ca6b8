"""`agent.client.batch`: label strings as Loki parses them, tenants, size accounting, sorting, stream limits."""

from __future__ import annotations

import pytest

from agent.client._proto import logproto_pb2
from agent.client.batch import Batch, StreamRouter, entry_size, format_labels, quote, run_size, run_sizes, runs
from agent.model import LogEntry, untracked_checkpoint
from support.loki_receiver import parse_label_string


def entry(ts: int, line: str, labels: dict[str, str] | None = None, metadata: dict[str, str] | None = None) -> LogEntry:
    return LogEntry(ts, line, labels if labels is not None else {"job": "x"}, untracked_checkpoint(), metadata=metadata)


class TestQuote:
    @pytest.mark.parametrize(
        ("value", "quoted"),
        [
            pytest.param("plain", '"plain"', id="plain"),
            pytest.param("", '""', id="empty"),
            pytest.param('say "hi"', '"say \\"hi\\""', id="double-quote"),
            pytest.param("C:\\logs", '"C:\\\\logs"', id="backslash"),
            pytest.param("a\nb\tc\rd", '"a\\nb\\tc\\rd"', id="newline-tab-cr"),
            pytest.param("\a\b\f\v", '"\\a\\b\\f\\v"', id="bell-backspace-formfeed-vtab"),
            pytest.param("nul\x00esc\x1bdel\x7f", '"nul\\x00esc\\x1bdel\\x7f"', id="control-bytes"),
            pytest.param("héllo 日本 🎉", '"héllo 日本 🎉"', id="printable-unicode-kept"),
            pytest.param("nbsp\u00a0soft\u00ad", '"nbsp\\u00a0soft\\u00ad"', id="non-printable-unicode"),
            pytest.param("next-line\u0085", '"next-line\\u0085"', id="c1-control-as-u-escape"),
            pytest.param("private\U000f0000", '"private\\U000f0000"', id="astral-non-printable"),
            pytest.param("it's", '"it\'s"', id="single-quote-kept"),
        ],
    )
    def test_quotes_like_go(self, value: str, quoted: str) -> None:
        """Values are quoted exactly as Go's strconv.Quote does, so Loki reads back the same value."""
        assert quote(value) == quoted

    @pytest.mark.parametrize("value", ['a"b', "a\\b", "\x00\x01\n", "ü\u2028x", "🎉\U000e0001"])
    def test_loki_reads_back_the_value(self, value: str) -> None:
        """A label string parser (the test receiver's, Loki-like) returns the original value."""
        assert parse_label_string(format_labels({"v": value})) == {"v": value}


class TestStreamRouter:
    def test_label_string_is_sorted_and_comma_space_separated(self) -> None:
        """Labels are written `{a="1", b="2"}`, sorted by name, the form Loki and Promtail use."""
        assert StreamRouter().route({"zone": "eu", "app": "web", "env": "prod"}) == (
            "",
            '{app="web", env="prod", zone="eu"}',
        )

    def test_external_labels_are_added(self) -> None:
        """The client's external labels appear on every stream."""
        router = StreamRouter(external_labels={"host": "web-1"})
        assert router.route({"job": "x"})[1] == '{host="web-1", job="x"}'

    def test_entry_labels_win_over_external_labels(self) -> None:
        """When both set a label, the entry's value is kept (Promtail merges external labels under the entry's)."""
        router = StreamRouter(external_labels={"job": "external", "host": "h"})
        assert router.route({"job": "mine"})[1] == '{host="h", job="mine"}'

    def test_internal_labels_are_removed(self) -> None:
        """Labels starting with `__` never reach Loki."""
        router = StreamRouter()
        assert router.route({"__path__": "/var/log", "__meta_x": "y", "job": "x"})[1] == '{job="x"}'

    def test_client_tenant_is_the_default(self) -> None:
        """Without a `__tenant_id__` label, entries go to the client's tenant_id."""
        assert StreamRouter(tenant_id="team-a").route({"job": "x"})[0] == "team-a"

    def test_tenant_label_overrides_the_client_tenant(self) -> None:
        """A `__tenant_id__` label (the tenant stage) sends the entry to that tenant, and is not a label itself."""
        router = StreamRouter(tenant_id="team-a")
        assert router.route({"job": "x", "__tenant_id__": "team-b"}) == ("team-b", '{job="x"}')

    def test_no_labels_left_gives_empty_label_string(self) -> None:
        """An entry whose only labels are internal has nothing to send (the client drops it)."""
        assert StreamRouter().route({"__path__": "/x"}) == ("", "")
        assert StreamRouter().route({}) == ("", "")

    def test_shared_dict_is_cached(self) -> None:
        """Entries sharing a label dict share the label string object (computed once)."""
        router = StreamRouter()
        labels = {"job": "x"}
        assert router.route(labels)[1] is router.route(labels)[1]

    def test_equal_dicts_share_a_cached_result(self) -> None:
        """Distinct but equal label dicts (copied by a pipeline) reuse the cached label string."""
        router = StreamRouter()
        assert router.route({"job": "x"})[1] is router.route({"job": "x"})[1]

    def test_cache_is_bounded(self) -> None:
        """Many distinct label sets do not grow the cache without limit, and answers stay right."""
        router = StreamRouter()
        for n in range(10_000):
            assert router.route({"n": str(n)})[1] == f'{{n="{n}"}}'
        assert len(router._by_id) <= 4096
        assert len(router._by_content) <= 4096


class TestEntrySize:
    @pytest.mark.parametrize(
        ("line", "metadata", "size"),
        [
            pytest.param("hello", None, 5, id="ascii"),
            pytest.param("héllo", None, 6, id="utf8-bytes"),
            pytest.param("", None, 0, id="empty"),
            pytest.param("abc", {"trace": "xyz", "ü": "1"}, 3 + 5 + 3 + 2 + 1, id="with-metadata"),
            pytest.param("bad \udcff", None, 7, id="lone-surrogate"),
        ],
    )
    def test_counts_line_and_metadata_bytes(self, line: str, metadata: dict[str, str] | None, size: int) -> None:
        """Size is line bytes plus structured metadata bytes, as Promtail accounts batches."""
        assert entry_size(entry(0, line, metadata=metadata)) == size


class TestRunSizes:
    @pytest.mark.parametrize(
        "lines",
        [
            pytest.param(["hello", "", "world"], id="ascii"),
            pytest.param(["héllo", "wörld ✓", "plain"], id="utf8"),
            pytest.param(["bad \udcff", "fine"], id="lone-surrogate"),
        ],
    )
    def test_bulk_sizes_equal_entry_sizes(self, lines: list[str]) -> None:
        """Sizes computed for a whole run match `entry_size` entry by entry."""
        entries = [entry(i, line) for i, line in enumerate(lines)]
        assert run_sizes(entries) == [entry_size(e) for e in entries]
        assert run_size(entries) == sum(map(entry_size, entries))

    def test_metadata_counts_in_bulk_sizes(self) -> None:
        """Structured metadata counts in a run's size as in `entry_size`."""
        entries = [entry(1, "abc", metadata={"trace": "xyz"}), entry(2, "de")]
        assert run_size(entries) == 3 + 5 + 3 + 2


class TestRuns:
    def test_a_shared_dict_is_one_run(self) -> None:
        """A file's chunk, whose entries share one label dict, is one run: the chunk itself."""
        labels = {"job": "x"}
        chunk = [LogEntry(i, "l", labels, untracked_checkpoint()) for i in range(3)]
        assert [(group_labels, list(group)) for group_labels, group in runs(chunk)] == [(labels, chunk)]

    def test_interleaved_dicts_are_grouped_in_order(self) -> None:
        """Entries of interleaved label dicts come out grouped by dict, each group in chunk order."""
        a, b = {"app": "a"}, {"app": "b"}
        chunk = [LogEntry(i, str(i), labels, untracked_checkpoint()) for i, labels in enumerate([a, b, a, b, a])]
        grouped = [(labels, [e.line for e in group]) for labels, group in runs(chunk)]
        assert grouped == [(a, ["0", "2", "4"]), (b, ["1", "3"])]


class TestBatch:
    def test_groups_entries_by_stream(self) -> None:
        """Entries of the same label string share a stream; others get their own."""
        batch = Batch("", 0.0)
        batch.add('{a="1"}', entry(1, "x"), 1)
        batch.add('{a="2"}', entry(2, "y"), 1)
        batch.add('{a="1"}', entry(3, "z"), 1)
        assert {labels: [e.line for e in entries] for labels, entries in batch.streams.items()} == {
            '{a="1"}': ["x", "z"],
            '{a="2"}': ["y"],
        }
        assert (batch.count, batch.size, batch.newest) == (3, 3, 3)

    def test_has_room_until_the_limit(self) -> None:
        """An entry fits while the batch stays within the size limit, and not beyond it."""
        batch = Batch("", 0.0)
        batch.add('{a="1"}', entry(1, "x" * 60), 60)
        assert batch.has_room(40, 100)
        assert not batch.has_room(41, 100)

    def test_an_oversized_entry_fits_an_empty_batch(self) -> None:
        """An entry larger than the limit still goes out, alone in its batch."""
        assert Batch("", 0.0).has_room(5_000, 100)

    def test_max_streams_refuses_new_streams(self) -> None:
        """Beyond max_streams, entries of new streams are refused while known streams still take entries."""
        batch = Batch("", 0.0, max_streams=2)
        assert batch.add('{a="1"}', entry(1, "x"), 1)
        assert batch.add('{a="2"}', entry(1, "x"), 1)
        assert not batch.add('{a="3"}', entry(1, "x"), 1)
        assert batch.add('{a="1"}', entry(2, "y"), 1)
        assert sorted(batch.streams) == ['{a="1"}', '{a="2"}']
        assert batch.count == 3

    def test_ordered_runs_out_of_order_with_each_other_are_sorted(self) -> None:
        """Runs each in order, but added later with earlier timestamps, still reach Loki in timestamp order."""
        batch = Batch("", 0.0)
        batch.add_run('{a="1"}', [entry(5, "e"), entry(6, "f")], 2, ordered=True)
        batch.add_run('{a="1"}', [entry(1, "a"), entry(2, "b")], 2, ordered=True)
        batch.add_run('{a="2"}', [entry(3, "c"), entry(4, "d")], 2, ordered=True)
        assert batch.newest == 6
        push = logproto_pb2.PushRequest()
        push.ParseFromString(batch.encode().body)
        assert [[e.line for e in stream.entries] for stream in push.streams] == [["a", "b", "e", "f"], ["c", "d"]]
        assert batch.newest == 6

    def test_newest_of_an_unordered_run(self) -> None:
        """The newest timestamp is found wherever it sits in a run that is not known to be in order."""
        batch = Batch("", 0.0)
        batch.add_run('{a="1"}', [entry(9, "x"), entry(2, "y")], 2)
        assert batch.newest == 9
        assert Batch("", 0.0).newest == 0

    def test_encode_sorts_each_stream_by_timestamp_stably(self) -> None:
        """Entries reach Loki in timestamp order within a stream; equal timestamps keep arrival order."""
        batch = Batch("", 0.0)
        for ts, line in [(3, "c"), (1, "a1"), (2, "b"), (1, "a2")]:
            batch.add('{a="1"}', entry(ts, line), 1)
        push = logproto_pb2.PushRequest()
        push.ParseFromString(batch.encode().body)
        assert [e.line for e in push.streams[0].entries] == ["a1", "a2", "b", "c"]

    def test_entries_lists_everything_for_acknowledgement(self) -> None:
        """Every entry added is returned once for acknowledgement."""
        batch = Batch("", 0.0)
        added = [entry(i, str(i)) for i in range(5)]
        for n, e in enumerate(added):
            batch.add(f'{{a="{n % 2}"}}', e, 1)
        assert sorted(e.line for e in batch.entries()) == sorted(e.line for e in added)
