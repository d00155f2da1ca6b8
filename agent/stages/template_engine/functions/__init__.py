"""Every function a template may call (`FUNCTIONS`), gathered from one module per group.

Groups follow sprig's documentation: Go's built-ins (`gobuiltins`), strings (`strings`, with Promtail's own),
regular expressions (`regexp`), encodings (`encoding`), numbers (`numbers`), defaults and types (`defaults`),
lists and dicts (`lists`), dates (`dates`), paths and environment (`paths`). Each module's table gives every
function its Go parameter kinds (`agent.stages.template_engine.signature.Func`). Not here: `and` and `or`,
which short-circuit and so are compiled by `agent.stages.template_engine.compiler`.
"""

from __future__ import annotations

from agent.stages.template_engine.functions import (
    dates,
    defaults,
    encoding,
    gobuiltins,
    lists,
    numbers,
    paths,
    regexp,
    strings,
)
from agent.stages.template_engine.signature import Func

FUNCTIONS: dict[str, Func] = {
    **gobuiltins.FUNCTIONS,
    **strings.FUNCTIONS,
    **regexp.FUNCTIONS,
    **encoding.FUNCTIONS,
    **numbers.FUNCTIONS,
    **lists.FUNCTIONS,
    **defaults.FUNCTIONS,
    **dates.FUNCTIONS,
    **paths.FUNCTIONS,
}
"""Every function a template may call: Go's built-ins, sprig's (as Promtail registers them, overriding
Go's `slice`) and Promtail's own, each with its Go parameter kinds.

sprig functions not here: case conversions (snakecase, camelcase, kebabcase, swapcase, untitle, initials,
wrap, wrapWith, shuffle), random values (randAlpha and friends), float math (addf, subf, mulf, divf, maxf,
minf, toDecimal), seq, durations (ago, duration, durationRound, dateModify), dict helpers (merge*, pluck, dig,
deepCopy), semver, URL, crypto and network helpers, and the must* variants."""
