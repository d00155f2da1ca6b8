"""The Go text/template engine: syntax, evaluation rules and functions, as Go's text/template and sprig document them.

Expected outputs come from the text/template package documentation (actions, pipelines, variables, functions,
truth), fmt's verbs, and the sprig and Promtail template function documentation.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from agent.stages.template_engine import Template, TemplateExecError

DATA: dict[str, Any] = {
    "app": "loki",
    "level": "warn",
    "empty": "",
    "list": ["a", "b", "c"],
    "map": {"b": "2", "a": "1"},
    "nested": {"inner": {"leaf": "x"}},
    "num": 3,
    "pi": 3.5,
    "yes": True,
}


def _render(text: str, data: Any = None) -> str:
    return Template(text).render(DATA if data is None else data)


def _cases(*cases: tuple[str, str, str]) -> list[Any]:
    return [pytest.param(text, expected, id=case_id) for case_id, text, expected in cases]


class TestParse:
    @pytest.mark.parametrize(
        ("text", "message"),
        _cases(
            ("undefined-function", "{{ nope .app }}", 'function "nope" not defined at line 1, column 4'),
            ("undefined-variable", "{{ $x }}", 'undefined variable "$x" at line 1, column 4'),
            ("position-on-later-line", "a\nb {{ nope }}", 'function "nope" not defined at line 2, column 6'),
            ("unclosed-action", "{{ .app", "unclosed action at line 1, column 8"),
            ("missing-end", "{{ if .app }}x", "unexpected EOF at line 1, column 15"),
            ("stray-end", "{{ end }}", "unexpected {{end}} at line 1, column 4"),
            ("stray-else", "{{ else }}", "unexpected {{else}} at line 1, column 4"),
            ("empty-if", "{{ if }}{{ end }}", "missing value for if at line 1, column 7"),
            (
                "literal-after-pipe",
                '{{ .app | "x" }}',
                "non executable command in pipeline stage 2 at line 1, column 11",
            ),
            ("break-outside-range", "{{ break }}", "{{break}} outside {{range}} at line 1, column 4"),
            ("unclosed-paren", "{{ (ToUpper .app }}", "unclosed left paren at line 1, column 18"),
            ("extra-paren", "{{ .app) }}", "unexpected right paren at line 1, column 8"),
            ("operands-need-space", '{{ printf "%d"3 }}', 'unexpected "3" in operand at line 1, column 15'),
            ("bad-number", "{{ 1x }}", 'bad number syntax: "1x" at line 1, column 4'),
            (
                "integer-overflow",
                "{{ 99999999999999999999 }}",
                'integer overflow: "99999999999999999999" at line 1, column 4',
            ),
            ("bad-escape", r'{{ "\q" }}', r'invalid syntax: "\q" at line 1, column 4'),
            ("unterminated-string", '{{ "abc }}', "unterminated quoted string at line 1, column 4"),
            ("too-many-declarations", "{{ $a, $b := .list }}", "too many declarations in command at line 1, column 6"),
            (
                "comment-not-closing-action",
                "{{/* c */ .app }}",
                "comment ends before closing delimiter at line 1, column 1",
            ),
        ),
    )
    def test_errors(self, text: str, message: str) -> None:
        """Text Go's parser rejects raises ValueError naming the problem and where it is."""
        with pytest.raises(ValueError, match=r".") as caught:
            Template(text)
        assert str(caught.value) == message


class TestActions:
    @pytest.mark.parametrize(
        ("text", "expected"),
        _cases(
            ("plain-text", "hello world!", "hello world!"),
            ("field", "{{ .app }}", "loki"),
            ("missing-field", "{{ .missing }}", "<no value>"),
            ("nested-field", "{{ .nested.inner.leaf }}", "x"),
            ("field-of-missing", "{{ .missing.deeper }}", "<no value>"),
            ("dot-map-sorted", "{{ .map }}", "map[a:1 b:2]"),
            (
                "dot",
                "{{ . }}",
                "map[app:loki empty: level:warn list:[a b c] map:map[a:1 b:2] "
                "nested:map[inner:map[leaf:x]] num:3 pi:3.5 yes:true]",
            ),
            ("trim-both-sides", "a  {{- .app -}}  b", "alokib"),
            ("trim-needs-space", "{{3 -}} x {{- -3}}", "3x-3"),
            ("trim-newlines", "a\n\t{{- .app }}\n", "aloki\n"),
            ("comment", "a{{/* note */}}b", "ab"),
            ("trimmed-comment", "a {{- /* note */ -}} b", "ab"),
            ("string-escapes", r'{{ "tab\there\u00e9\x41" }}', "tab\thereéA"),
            ("raw-string", "{{ `a\\nb` }}", "a\\nb"),
            ("char-constant", "{{ 'a' }}", "97"),
            ("int", "{{ 42 }}", "42"),
            ("hex-int", "{{ 0x1F }}", "31"),
            ("octal-int", "{{ 010 }}", "8"),
            ("float", "{{ 1.5 }}", "1.5"),
            ("whole-float", "{{ 2.0 }}", "2"),
            ("float-exponent", "{{ 1e6 }}", "1e+06"),
            ("small-float", "{{ 0.00001 }}", "1e-05"),
            ("bool", "{{ true }}", "true"),
            ("list", "{{ .list }}", "[a b c]"),
            ("newline-inside-action", "{{ .app\n}}", "loki"),
        ),
    )
    def test_output(self, text: str, expected: str) -> None:
        """An action prints its value as Go's fmt.Print does (a missing map key as <no value>)."""
        assert _render(text) == expected


class TestControl:
    @pytest.mark.parametrize(
        ("text", "expected"),
        _cases(
            ("if-true", "{{ if .app }}yes{{ end }}", "yes"),
            ("if-empty-string", "{{ if .empty }}yes{{ else }}no{{ end }}", "no"),
            ("if-missing", "{{ if .missing }}yes{{ else }}no{{ end }}", "no"),
            ("if-zero", "{{ if 0 }}yes{{ else }}no{{ end }}", "no"),
            ("if-empty-list", "{{ if list }}yes{{ else }}no{{ end }}", "no"),
            ("else-if", '{{ if eq .level "info" }}i{{ else if eq .level "warn" }}w{{ else }}o{{ end }}', "w"),
            ("with-sets-dot", "{{ with .nested.inner }}{{ .leaf }}{{ end }}", "x"),
            ("with-else", "{{ with .missing }}{{ . }}{{ else }}none{{ end }}", "none"),
            ("else-with", "{{ with .missing }}a{{ else with .app }}{{ . }}{{ end }}", "loki"),
            ("range-list", "{{ range .list }}<{{ . }}>{{ end }}", "<a><b><c>"),
            ("range-index-element", "{{ range $i, $e := .list }}{{ $i }}{{ $e }}{{ end }}", "0a1b2c"),
            ("range-map-sorted", "{{ range $k, $v := .map }}{{ $k }}={{ $v }};{{ end }}", "a=1;b=2;"),
            ("range-int", "{{ range 3 }}{{ . }}{{ end }}", "012"),
            ("range-empty-else", "{{ range .missing }}x{{ else }}empty{{ end }}", "empty"),
            ("range-break", '{{ range .list }}{{ if eq . "b" }}{{ break }}{{ end }}{{ . }}{{ end }}', "a"),
            ("range-continue", '{{ range .list }}{{ if eq . "b" }}{{ continue }}{{ end }}{{ . }}{{ end }}', "ac"),
            ("dollar-is-root", "{{ range .list }}{{ $.app }}{{ end }}", "lokilokiloki"),
            ("variable", "{{ $x := .app }}{{ $x }}-{{ $x }}", "loki-loki"),
            ("declaration-prints-nothing", "{{ $x := 1 }}", ""),
            ("assignment-in-block", "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", "2"),
            ("declaration-scoped-to-block", "{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ end }}{{ $x }}", "1"),
            ("variable-field", "{{ $n := .nested }}{{ $n.inner.leaf }}", "x"),
            ("define-and-template", '{{ define "T" }}[{{ . }}]{{ end }}{{ template "T" .app }}', "[loki]"),
            ("block", '{{ block "B" .level }}<{{ . }}>{{ end }}', "<warn>"),
        ),
    )
    def test_output(self, text: str, expected: str) -> None:
        """Control structures follow Go's truth, scoping and iteration rules."""
        assert _render(text) == expected


class TestPipelines:
    @pytest.mark.parametrize(
        ("text", "expected"),
        _cases(
            ("pipe-is-last-argument", '{{ .app | printf "%s-%s" "x" }}', "x-loki"),
            ("chained-pipes", '{{ .app | ToUpper | printf "%q" }}', '"LOKI"'),
            ("parenthesized", '{{ printf "%s/%s" (ToUpper .app) .level }}', "LOKI/warn"),
            ("field-of-parenthesized", "{{ (.nested).inner.leaf }}", "x"),
            ("variable-in-pipeline", "{{ $u := .app | ToUpper }}{{ $u }}", "LOKI"),
        ),
    )
    def test_output(self, text: str, expected: str) -> None:
        """A pipeline passes each command's result as the last argument of the next."""
        assert _render(text) == expected


class TestBuiltins:
    @pytest.mark.parametrize(
        ("text", "expected"),
        _cases(
            ("eq-strings", '{{ eq .app "loki" }}', "true"),
            ("eq-any-of", '{{ eq .level "info" "warn" }}', "true"),
            ("eq-missing", '{{ eq .missing "x" }}', "false"),
            ("ne", '{{ ne .app "x" }}', "true"),
            ("lt-strings", '{{ lt "a" "b" }}', "true"),
            ("le-equal", "{{ le 2 2 }}", "true"),
            ("gt-int", "{{ gt 3 2 }}", "true"),
            ("ge-float", "{{ ge 1.5 2.5 }}", "false"),
            ("and-returns-first-false", '{{ and "x" "" "y" }}', ""),
            ("and-returns-last", '{{ and "x" "y" }}', "y"),
            ("or-returns-first-true", '{{ or "" "x" "y" }}', "x"),
            ("or-short-circuits", '{{ or .app (fail "boom") }}', "loki"),
            ("not", "{{ not .empty }}", "true"),
            ("len-counts-bytes", '{{ len "héllo" }}', "6"),
            ("len-list", "{{ len .list }}", "3"),
            ("index-list", "{{ index .list 1 }}", "b"),
            ("index-map", '{{ index .map "a" }}', "1"),
            ("index-missing-key", '{{ index .map "z" }}', "<no value>"),
            ("index-string-is-byte", '{{ index "abc" 0 }}', "97"),
            ("print-spaces-between-non-strings", '{{ print 1 2 "a" "b" 3 }}', "1 2ab3"),
            ("println", '{{ println "a" 1 }}', "a 1\n"),
            ("html", "{{ html \"<a href='x'>&</a>\" }}", "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"),
            ("js", '{{ js "it\'s <b>" }}', "it\\'s \\u003Cb\\u003E"),
            ("urlquery", '{{ urlquery "a b&c=d/é" }}', "a+b%26c%3Dd%2F%C3%A9"),
        ),
    )
    def test_output(self, text: str, expected: str) -> None:
        """Go's built-in functions behave as the text/template documentation says."""
        assert _render(text) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        _cases(
            ("string-and-int", '{{ printf "%s is %d" .app 7 }}', "loki is 7"),
            ("value-verb", '{{ printf "%v %v %v %v" .list 1.5 true .map }}', "[a b c] 1.5 true map[a:1 b:2]"),
            ("quoted", '{{ printf "%q" "a\\"b\\n" }}', '"a\\"b\\n"'),
            ("float-precision", '{{ printf "%.2f|%8.3f|%-6.1f|" 3.14159 2.5 1.25 }}', "3.14|   2.500|1.2   |"),
            ("width-and-zero-pad", '{{ printf "%5d|%-5d|%05d|%+d" 42 42 42 42 }}', "   42|42   |00042|+42"),
            ("hex", '{{ printf "%x %X %#x" 255 255 255 }}', "ff FF 0xff"),
            ("hex-string", '{{ printf "%x" "hi" }}', "6869"),
            ("exponent", '{{ printf "%e %g" 1234.5678 0.000012 }}', "1.234568e+03 1.2e-05"),
            ("type", '{{ printf "%T %T %T" 1 "s" (add 1 1) }}', "int string int64"),
            ("percent", '{{ printf "100%%" }}', "100%"),
            ("wrong-type", '{{ printf "%d" "x" }}', "%!d(string=x)"),
            ("missing-argument", '{{ printf "%s %s" "a" }}', "a %!s(MISSING)"),
            ("extra-argument", '{{ printf "%s" "a" 1 }}', "a%!(EXTRA int=1)"),
            ("nil-argument", '{{ printf "%v" .missing }}', "<nil>"),
            ("string-precision", '{{ printf "%.2s|%6s" "hello" "ab" }}', "he|    ab"),
            ("string-zero-padded", '{{ printf "%02s|%-03s|" "5" "7" }}', "05|7  |"),
        ),
    )
    def test_printf(self, text: str, expected: str) -> None:
        """printf formats as Go's fmt.Sprintf."""
        assert _render(text) == expected


class TestPromtailFunctions:
    @pytest.mark.parametrize(
        ("text", "expected"),
        _cases(
            ("to-lower", '{{ ToLower "LOKI" }}', "loki"),
            ("to-upper", "{{ .app | ToUpper }}", "LOKI"),
            ("to-upper-keeps-sharp-s", '{{ ToUpper "straße" }}', "STRAßE"),
            ("replace-n", '{{ Replace "loki loki loki" "loki" "Loki" 2 }}', "Loki Loki loki"),
            ("replace-all", '{{ Replace "aaa" "a" "b" -1 }}', "bbb"),
            ("trim", '{{ Trim ",. hello .," ",. " }}', "hello"),
            ("trim-left", '{{ TrimLeft "xxhixx" "x" }}', "hixx"),
            ("trim-right", '{{ TrimRight "xxhixx" "x" }}', "xxhi"),
            ("trim-prefix", '{{ TrimPrefix "--flag" "--" }}', "flag"),
            ("trim-suffix", '{{ TrimSuffix "file.log" ".log" }}', "file"),
            ("trim-space", '{{ TrimSpace "\\t hi \\n" }}', "hi"),
            ("regex-replace-all", '{{ regexReplaceAll "(a*)bc" "aabcxbc" "${1}a" }}', "aaaxa"),
            ("regex-replace-all-named", '{{ regexReplaceAll "(?P<k>\\\\w+)=" "ts=1" "$k:" }}', "ts:1"),
            ("regex-replace-empty-matches", '{{ regexReplaceAll "a*" "baaac" "X" }}', "XbXcX"),
            ("regex-replace-literal", '{{ regexReplaceAllLiteral "(ts=)" "ts=1" "$1timestamp=" }}', "$1timestamp=1"),
        ),
    )
    def test_output(self, text: str, expected: str) -> None:
        """Promtail's documented functions behave as Go's strings and regexp packages."""
        assert _render(text) == expected

    def test_hash(self) -> None:
        """Hash is the SHA3-256 of the value followed by the salt, as Promtail calls it."""
        expected = hashlib.sha3_256(b"secretsalt").hexdigest()
        assert _render('{{ Hash .Value "salt" }}', {"Value": "secret"}) == expected

    def test_sha2_hash(self) -> None:
        """Sha2Hash is the SHA-256 of the value followed by the salt."""
        expected = hashlib.sha256(b"secretsalt").hexdigest()
        assert _render('{{ Sha2Hash .Value "salt" }}', {"Value": "secret"}) == expected


class TestSprigFunctions:
    @pytest.mark.parametrize(
        ("text", "expected"),
        _cases(
            ("default-when-missing", '{{ .missing | default "d" }}', "d"),
            ("default-when-empty", '{{ .empty | default "d" }}', "d"),
            ("default-keeps-value", '{{ .app | default "d" }}', "loki"),
            ("lower-upper", '{{ lower "AbC" }}{{ upper "AbC" }}', "abcABC"),
            ("title", '{{ title "hello wORLD-x_y" }}', "Hello WORLD-X_y"),
            ("trim", '{{ trim "  x  " }}', "x"),
            ("trim-all", '{{ trimAll "$" "$5.00$" }}', "5.00"),
            ("trim-prefix-suffix", '{{ trimPrefix "a" "abc" }}{{ trimSuffix "c" "abc" }}', "bcab"),
            ("contains", '{{ contains "ok" "loki" }}', "true"),
            ("has-prefix-suffix", '{{ hasPrefix "lo" "loki" }} {{ hasSuffix "x" "loki" }}', "true false"),
            ("replace", '{{ replace "o" "0" "foo" }}', "f00"),
            ("quote", '{{ quote "a" "b\\"" }}', '"a" "b\\""'),
            ("squote", "{{ squote .app }}", "'loki'"),
            ("cat", '{{ cat "a" 1 .missing "b" }}', "a 1 b"),
            ("substr", "{{ .app | substr 1 3 }}", "ok"),
            ("substr-past-end", '{{ substr 2 99 "loki" }}', "ki"),
            ("trunc", '{{ trunc 2 "loki" }} {{ trunc -2 "loki" }}', "lo ki"),
            ("repeat", '{{ repeat 3 "ab" }}', "ababab"),
            ("split", '{{ $p := split "." "a.b.c" }}{{ $p._1 }}', "b"),
            ("split-list-join", '{{ splitList "," "a,b" | join "+" }}', "a+b"),
            ("join-list", '{{ join "-" .list }}', "a-b-c"),
            ("to-string", '{{ toString 1.5 | printf "%q" }}', '"1.5"'),
            ("to-json", "{{ toJson .map }}", '{"a":"1","b":"2"}'),
            ("to-json-escapes-html", '{{ toJson "<b>" }}', '"\\u003cb\\u003e"'),
            ("from-json", '{{ (fromJson "{\\"a\\": [1, 2]}").a }}', "[1 2]"),
            ("int-conversions", '{{ int "42" }} {{ int64 "0x10" }} {{ float64 "1.5" }} {{ atoi "7" }}', "42 16 1.5 7"),
            ("add", '{{ add 1 "2" 3.9 }}', "6"),
            ("sub-mul", "{{ sub 10 3 }} {{ mul 2 3 4 }}", "7 24"),
            ("div-truncates", "{{ div -7 2 }}", "-3"),
            ("mod-sign-of-dividend", "{{ mod -7 2 }}", "-1"),
            ("max-min", "{{ max 1 5 3 }} {{ min 4 2 8 }}", "5 2"),
            ("list-first-last", "{{ first .list }}{{ last .list }}", "ac"),
            ("has", '{{ has "b" .list }}', "true"),
            ("dict-get", '{{ get (dict "k" "v") "k" }}', "v"),
            ("empty", "{{ empty .empty }} {{ empty .app }}", "true false"),
            ("coalesce", '{{ coalesce .missing .empty "x" }}', "x"),
            ("ternary", '{{ ternary "y" "n" true }}', "y"),
            ("b64", '{{ b64enc "loki" }} {{ b64dec "bG9raQ==" }}', "bG9raQ== loki"),
            ("sha256sum", '{{ sha256sum "loki" | trunc 8 }}', hashlib.sha256(b"loki").hexdigest()[:8]),
            ("regex-match-find", '{{ regexMatch "^l" .app }} {{ regexFind "[aeiou]+" .app }}', "true o"),
            ("regex-find-all", '{{ regexFindAll "[aeiou]" .app -1 }}', "[o i]"),
            ("regex-split", '{{ regexSplit "[,;]" "a,b;c" -1 }}', "[a b c]"),
            ("date-in-zone", '{{ dateInZone "2006-01-02 15:04" 0 "UTC" }}', "1970-01-01 00:00"),
            ("unix-epoch", '{{ toDate "2006-01-02" "2023-01-02" | date "2006" }}', "2023"),
            ("type-of", "{{ typeOf .list }} {{ kindOf .map }}", "[]interface {} map"),
            ("indent", '{{ indent 2 "a\\nb" }}', "  a\n  b"),
            ("nospace", '{{ nospace " a b " }}', "ab"),
            ("plural", '{{ plural "one" "many" 2 }}', "many"),
            ("base", '{{ base "/var/log/app.log" }} {{ base "a/b/" }} {{ base "" }}', "app.log b ."),
            ("dir", '{{ dir "/var/log/app.log" }} {{ dir "app.log" }}', "/var/log ."),
            ("ext", '{{ ext "/var/log/app.log.gz" }}|{{ ext "/a.b/c" }}|', ".gz||"),
            ("clean", '{{ clean "//a/./b/../c/" }} {{ clean "../../x" }} {{ osClean "" }}', "/a/c ../../x ."),
            ("is-abs", '{{ isAbs "/a" }} {{ osIsAbs "a" }}', "true false"),
            ("until", "{{ until 3 }} {{ until -2 }} {{ untilStep 1 7 3 }}", "[0 1 2] [0 -1] [1 4]"),
        ),
    )
    def test_output(self, text: str, expected: str) -> None:
        """sprig's functions behave as its documentation says."""
        assert _render(text) == expected


class TestExecErrors:
    @pytest.mark.parametrize(
        ("text", "message"),
        _cases(
            ("missing-value-to-string", "{{ ToUpper .missing }}", "invalid value; expected string"),
            ("int-to-string", "{{ ToUpper 3 }}", "expected string; found 3"),
            ("int64-to-int", "{{ substr 0 (add 1 1) .app }}", "wrong type for value; expected int; got int64"),
            ("string-to-int", '{{ repeat "2" "x" }}', 'expected integer; found "2"'),
            ("compare-int-with-string", '{{ eq 1 "1" }}', "error calling eq: incompatible types for comparison"),
            ("lt-missing", '{{ lt .missing "a" }}', "error calling lt: invalid type for comparison"),
            ("index-out-of-range", "{{ index .list 5 }}", "error calling index: index out of range: 5"),
            ("divide-by-zero", "{{ div 1 0 }}", "error calling div: runtime error: integer divide by zero"),
            ("field-of-string", "{{ .app.x }}", "can't evaluate field x in type string"),
            ("argument-to-field", "{{ .app 1 }}", "app is not a method but has arguments"),
            ("wrong-argument-count", '{{ ToUpper "a" "b" }}', "wrong number of args for ToUpper: want 1 got 2"),
            ("bad-regex", '{{ regexReplaceAll "(" "x" "y" }}', "error calling regexReplaceAll: regexp: Compile"),
            ("fail", '{{ fail "stop" }}', "error calling fail: stop"),
            ("undefined-template", '{{ template "nope" }}', 'template "nope" not defined'),
            ("substr-bounds", '{{ substr 3 1 "loki" }}', "error calling substr: slice bounds out of range"),
        ),
    )
    def test_errors(self, text: str, message: str) -> None:
        """What Go reports while executing raises TemplateExecError."""
        with pytest.raises(TemplateExecError, match=r".") as caught:
            _render(text)
        assert str(caught.value).startswith(message)


class TestFields:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                "{{ ToUpper .Value }} {{ .app | default .level }}",
                frozenset({"Value", "app", "level"}),
                id="fields-only",
            ),
            pytest.param("{{ . }}", None, id="dot-itself"),
            pytest.param("{{ range .list }}{{ end }}", None, id="control-structure"),
            pytest.param("{{ $.app }}", None, id="variable"),
        ],
    )
    def test_root_fields(self, text: str, expected: frozenset[str] | None) -> None:
        """`fields` names what a template reads from dot, or None when it may read more."""
        assert Template(text).fields == expected
