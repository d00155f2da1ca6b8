"""`agent.client.encode`: our hand-written protobuf must decode, field for field, with the generated classes."""

from __future__ import annotations

import pytest
import snappy

from agent.client._proto import logproto_pb2
from agent.client.encode import compress, encode_push
from agent.model import LogEntry, untracked_checkpoint

NS = 1_000_000_000
LABELS = '{job="varlogs"}'


def entry(ts: int, line: str, metadata: dict[str, str] | None = None) -> LogEntry:
    return LogEntry(ts, line, {"job": "varlogs"}, untracked_checkpoint(), metadata=metadata)


def decode(body: bytes) -> list[tuple[str, list[tuple[int, str, dict[str, str]]]]]:
    push = logproto_pb2.PushRequest()
    push.ParseFromString(body)
    return [
        (
            stream.labels,
            [
                (
                    e.timestamp.seconds * NS + e.timestamp.nanos,
                    e.line,
                    {pair.name: pair.value for pair in e.structuredMetadata},
                )
                for e in stream.entries
            ],
        )
        for stream in push.streams
    ]


def expected(streams: list[tuple[str, list[LogEntry]]]) -> list[tuple[str, list[tuple[int, str, dict[str, str]]]]]:
    return [(labels, [(e.timestamp, e.line, e.metadata or {}) for e in entries]) for labels, entries in streams]


class TestRoundTrip:
    @pytest.mark.parametrize(
        "entries",
        [
            pytest.param([entry(1_700_000_000_123_456_789, "hello")], id="plain"),
            pytest.param([entry(1_700_000_000 * NS, "whole second")], id="nanos-zero"),
            pytest.param([entry(0, "epoch")], id="epoch"),
            pytest.param([entry(1, "one ns after epoch")], id="one-ns"),
            pytest.param([entry(NS - 1, "last ns of the first second")], id="nanos-max"),
            pytest.param([entry(-1, "one ns before epoch")], id="before-epoch"),
            pytest.param([entry(-NS, "one second before epoch")], id="minus-one-second"),
            pytest.param([entry(-1_500_000_000, "1.5 s before epoch")], id="before-epoch-fraction"),
            pytest.param([entry(253_402_300_799 * NS + 999_999_999, "year 9999")], id="far-future"),
            pytest.param([entry(1_700_000_000 * NS + 5_000, "small nanos")], id="nanos-two-bytes"),
            pytest.param([entry(1_700_000_000 * NS + 1_000_000, "1 ms")], id="nanos-three-bytes"),
            pytest.param([entry(1_700_000_000 * NS + 100_000_000, "100 ms")], id="nanos-four-bytes"),
            pytest.param([entry(1_700_000_000 * NS + 500_000_000, "500 ms")], id="nanos-five-bytes"),
            pytest.param([entry(1_700_000_000 * NS, "")], id="empty-line"),
            pytest.param([entry(1_700_000_000 * NS, "héllo wörld ✓ 日本語 🎉")], id="unicode"),
            pytest.param([entry(1_700_000_000 * NS, "tab\there\x00nul")], id="control-chars"),
            pytest.param([entry(1_700_000_000 * NS, "x" * 20_000)], id="line-over-16KiB"),
            pytest.param([entry(1_700_000_000 * NS, "y" * 3_000_000)], id="line-over-2MiB"),
            pytest.param(
                [entry(1_700_000_000 * NS, "with metadata", {"trace_id": "abc123", "user": "ünï"})],
                id="metadata",
            ),
            pytest.param([entry(1_700_000_000 * NS, "empty metadata value", {"k": ""})], id="metadata-empty-value"),
            pytest.param([entry(1_700_000_000 * NS, "big metadata", {"blob": "z" * 17_000})], id="metadata-large"),
            pytest.param(
                [entry(1_700_000_000 * NS + i * 1_000_003, f"line {i}") for i in range(50)],
                id="many-timestamps",
            ),
            pytest.param([entry(5, "a"), entry(5, "b"), entry(5, "c")], id="shared-timestamp"),
            pytest.param(
                [entry(NS - 1, "end of second"), entry(NS, "next second"), entry(NS - 2, "back again")],
                id="second-boundary",
            ),
        ],
    )
    def test_single_stream_decodes_identically(self, entries: list[LogEntry]) -> None:
        """Loki decodes exactly the timestamps, lines and metadata we encoded."""
        streams = [(LABELS, entries)]
        assert decode(encode_push(streams).body) == expected(streams)

    def test_several_streams_keep_their_labels_and_order(self) -> None:
        """Each stream arrives with its own label string and its entries in the given order."""
        streams = [
            ('{job="a"}', [entry(3, "a3"), entry(1, "a1")]),
            ('{job="b", path="/var/log/ü"}', [entry(2, "b2")]),
            ('{job="c"}', [entry(2 * NS + 7, "c")] * 3),
        ]
        assert decode(encode_push(streams).body) == expected(streams)

    def test_many_streams_with_long_label_strings(self) -> None:
        """A stream whose encoded size needs a multi-byte length still decodes."""
        streams = [(f'{{job="{"j" * 300}", n="{n}"}}', [entry(n, "x" * 100)] * 200) for n in range(3)]
        assert decode(encode_push(streams).body) == expected(streams)

    def test_empty_streams_are_left_out(self) -> None:
        """A stream without entries is not sent (Loki would reject it)."""
        body = encode_push([(LABELS, []), ('{job="b"}', [entry(1, "x")])]).body
        assert [labels for labels, _ in decode(body)] == ['{job="b"}']

    def test_nothing_to_send_is_an_empty_request(self) -> None:
        """No streams encode to an empty PushRequest."""
        assert encode_push([]).body == b""

    def test_counts_entries(self) -> None:
        """The result says how many entries it holds, for the sent/dropped metrics."""
        assert encode_push([(LABELS, [entry(1, "a"), entry(2, "b")]), ('{a="b"}', [entry(3, "c")])]).entries == 3

    def test_lone_surrogates_are_replaced_and_counted(self) -> None:
        """A line that is not valid Unicode is still sent (with a replacement character) and counted."""
        result = encode_push([(LABELS, [entry(1, "bad \udcff byte"), entry(2, "fine")])])
        assert [e[1] for e in decode(result.body)[0][1]] == ["bad ? byte", "fine"]
        assert result.replaced_lines == 1

    def test_the_encoder_matches_protobuf_byte_for_byte(self) -> None:
        """Our bytes equal the generated serializer's bytes, so any Loki version parses them."""
        streams = [
            (LABELS, [entry(1_700_000_000_123_456_789, "a", {"k": "v"}), entry(-1_500_000_000, "")]),
            ('{x="y"}', [entry(0, "z" * 300)]),
        ]
        push = logproto_pb2.PushRequest()
        for labels, entries in streams:
            stream = push.streams.add(labels=labels)
            for e in entries:
                pb_entry = stream.entries.add(line=e.line)
                pb_entry.timestamp.seconds, pb_entry.timestamp.nanos = divmod(e.timestamp, NS)
                for name, value in (e.metadata or {}).items():
                    pb_entry.structuredMetadata.add(name=name, value=value)
        assert encode_push(streams).body == push.SerializeToString()


def protobuf_bytes(streams: list[tuple[str, list[LogEntry]]]) -> bytes:
    """What the generated serializer writes for `streams` (entries without metadata)."""
    push = logproto_pb2.PushRequest()
    for labels, entries in streams:
        stream = push.streams.add(labels=labels)
        for e in entries:
            pb_entry = stream.entries.add(line=e.line)
            pb_entry.timestamp.seconds, pb_entry.timestamp.nanos = divmod(e.timestamp, NS)
    return push.SerializeToString()


def counting(first: int, lines: list[str]) -> list[LogEntry]:
    """Entries stamped as a file tail stamps a read: `first`, `first + 1`, ..."""
    return [entry(first + i, line) for i, line in enumerate(lines)]


class TestRuns:
    """Runs of timestamps that count up by one or repeat are written column-wise; the bytes must not change."""

    SECOND = 1_700_000_000 * NS

    @pytest.mark.parametrize(
        "first",
        [
            pytest.param(SECOND + 100_000_000, id="four-byte-nanos"),
            pytest.param(SECOND + 500_000_000, id="five-byte-nanos"),
            pytest.param(SECOND + 0x10000000 - 40, id="crosses-five-byte-nanos"),
            pytest.param(SECOND + NS - 50, id="crosses-a-second"),
            pytest.param(SECOND + 0x200000 - 30, id="leaves-the-first-2ms"),
            pytest.param(SECOND + 0x3FFF * 1000 - 20, id="crosses-a-2**14-block"),
            pytest.param(SECOND, id="starts-a-second"),
            pytest.param(-NS // 2, id="before-epoch"),
        ],
    )
    def test_counting_timestamps(self, first: int) -> None:
        """A tail's read, stamped first, first + 1, ..., encodes as the generated serializer does."""
        lines = [f"line {i} " + "x" * (i % 37) for i in range(100)]
        streams = [(LABELS, counting(first, lines))]
        assert encode_push(streams).body == protobuf_bytes(streams)

    def test_several_reads_in_one_stream(self) -> None:
        """Runs separated by jumps (one per read) each keep their own timestamps."""
        entries = counting(self.SECOND + 300_000_000, ["a"] * 40) + counting(self.SECOND + 300_000_999, ["b"] * 40)
        entries += counting(self.SECOND + 2 * NS + 400_000_000, ["c" * 200] * 20)
        streams = [(LABELS, entries)]
        assert encode_push(streams).body == protobuf_bytes(streams)

    def test_a_lone_entry_after_a_run(self) -> None:
        """An entry alone in its block of nanoseconds, after a run, is written as the serializer does."""
        entries = [*counting(self.SECOND + 300_000_000, ["x"] * 16), entry(self.SECOND + 300_100_000, "alone")]
        streams = [(LABELS, entries)]
        assert encode_push(streams).body == protobuf_bytes(streams)

    def test_shared_timestamps(self) -> None:
        """Runs of one timestamp (a parsed timestamp with second precision) encode as the serializer does."""
        entries = [entry(self.SECOND + (i // 30) * NS, f"event {i}") for i in range(100)]
        streams = [(LABELS, entries)]
        assert encode_push(streams).body == protobuf_bytes(streams)

    def test_unsorted_timestamps_keep_their_order(self) -> None:
        """Timestamps that look like a run at first but are not sorted are written as given."""
        entries = counting(self.SECOND + 100_000_000, ["x"] * 30)
        entries[20], entries[25] = entries[25], entries[20]
        entries += [entry(self.SECOND + 100_000_005, "dup")] * 20
        streams = [(LABELS, entries)]
        assert encode_push(streams).body == protobuf_bytes(streams)

    def test_non_ascii_lines_in_a_run(self) -> None:
        """Lines that are not ASCII, repaired ones included, keep their UTF-8 bytes inside a run."""
        lines = ["plain"] * 20 + ["héllo ✓ 🎉"] * 5 + ["bad \udcff"] * 2
        result = encode_push([(LABELS, counting(self.SECOND + 200_000_000, lines))])
        decoded = [line for _, line, _ in decode(result.body)[0][1]]
        assert decoded == ["plain"] * 20 + ["héllo ✓ 🎉"] * 5 + ["bad ?"] * 2
        assert result.replaced_lines == 2

    def test_long_and_empty_lines_in_a_run(self) -> None:
        """Empty lines and lines past the header tables are written too."""
        lines = ["", "a", "b" * 16_400, *([""] * 20)]
        streams = [(LABELS, counting(self.SECOND + 200_000_000, lines))]
        assert encode_push(streams).body == protobuf_bytes(streams)


class TestCompress:
    def test_is_a_snappy_block(self) -> None:
        """The body is snappy block format (what Loki reads), not the framed stream format."""
        body = encode_push([(LABELS, [entry(1, "hello " * 100)])]).body
        compressed = compress(body)
        assert not compressed.startswith(b"\xff\x06\x00\x00sNaPpY")
        assert snappy.uncompress(compressed) == body
        assert len(compressed) < len(body)


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is optional
    pass
else:
    timestamps = st.integers(min_value=-(2**62), max_value=2**62)
    texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
    entries_strategy = st.lists(
        st.builds(
            entry,
            timestamps,
            texts,
            st.none() | st.dictionaries(texts.filter(bool), texts, max_size=3),
        ),
        min_size=1,
        max_size=20,
    )

    run_streams = st.lists(
        st.tuples(
            st.integers(min_value=-(2**40), max_value=2**62),  # where the run starts
            st.integers(min_value=1, max_value=60),  # how many entries
            st.sampled_from([0, 1, 1, 2]),  # step between timestamps: repeated, counting, gaps
            st.text(max_size=20),
        ),
        min_size=1,
        max_size=6,
    )

    class TestProperties:
        @settings(max_examples=200, deadline=None)
        @given(run_streams)
        def test_runs_encode_as_the_generated_serializer(self, runs: list[tuple[int, int, int, str]]) -> None:
            """Streams made of runs (counting, repeated or gapped timestamps) encode byte for byte."""
            entries = [entry(first + i * step, f"{text}{i}") for first, count, step, text in runs for i in range(count)]
            streams = [(LABELS, entries)]
            assert encode_push(streams).body == protobuf_bytes(streams)

        @settings(max_examples=200, deadline=None)
        @given(st.lists(st.tuples(texts.map(lambda s: f"{{a={s!r}}}"), entries_strategy), max_size=5))
        def test_any_input_round_trips(self, streams: list[tuple[str, list[LogEntry]]]) -> None:
            """Whatever the timestamps, text and metadata, Loki decodes what we encoded."""
            assert decode(encode_push(streams).body) == expected(streams)
