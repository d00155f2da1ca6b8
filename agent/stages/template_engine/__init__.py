"""Go's text/template with Promtail's function map (sprig plus Promtail's own), compiled once into closures.

Promtail's `template` stage (and the `replace` stage's replacement) hand their text to Go's ``text/template``
with ``sprig.TxtFuncMap()`` and Promtail's extras (``ToLower``, ``Replace``, ``Hash``, ``regexReplaceAll``...).
This package reproduces what those templates do and follows Go's rules: a missing map key prints
``<no value>``, truth is "not the zero value", ``and``/``or`` short-circuit and return operands, comparisons
follow Go's basic kinds (an int never equals a string), function arguments are type-checked as Go's reflection
does (a missing value is no string, an int64 no int). `Template(text)` parses and compiles (ValueError with line
and column); `render(data)` runs it (`TemplateExecError` for what Go reports at run time).

One module per job: `values` (Go's values, ``%v`` and truth), `gostrings` (Go's string and number literal
syntax, case mapping, UTF-8 byte indexing), `gofmt` (``printf``'s verbs), `lexer`, `nodes`, `parser` (syntax
and Go's parse-time checks), `signature` (function parameter kinds), `compiler` (closures and run-time rules),
`template` (`Template`), and `functions` (every function a template may call, one module per group).

Not here: which data a stage passes in (`agent.stages.template`), Go's time layouts (`agent.stages.golayout`).
Not supported (an undefined function is a parse error, as in Go): complex numbers, method calls on values
(``now.Unix``), and the sprig functions listed in `FUNCTIONS`' docstring as missing.
"""

from agent.stages.template_engine.functions import FUNCTIONS
from agent.stages.template_engine.signature import Func
from agent.stages.template_engine.template import Template
from agent.stages.template_engine.values import GoTime, Int64, StrMap, TemplateExecError

__all__ = ["FUNCTIONS", "Func", "GoTime", "Int64", "StrMap", "Template", "TemplateExecError"]
