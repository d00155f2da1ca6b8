"""`Template`: a Go text/template parsed and compiled once, then rendered many times; and which top-level fields a
template reads (`Template.fields`), so a stage can skip building data the template never looks at.

Not here: the language (`agent.stages.template_engine.lexer`, `.parser`, `.compiler`), its functions
(`agent.stages.template_engine.functions`).
"""

from __future__ import annotations

from typing import Any

from agent.stages.template_engine.compiler import UNSET, Compiler, Emit, Eval, State, emit_nothing
from agent.stages.template_engine.functions import FUNCTIONS
from agent.stages.template_engine.lexer import TemplateSyntaxError, lex
from agent.stages.template_engine.nodes import (
    ActionNode,
    Chain,
    Control,
    Dot,
    Field,
    Node,
    Pipe,
    TemplateCall,
    Variable,
)
from agent.stages.template_engine.parser import Parser
from agent.stages.template_engine.signature import Func
from agent.stages.template_engine.values import TemplateExecError, print_value


class Template:
    """A Go text/template compiled once; `render(data)` runs it against `data` (usually a dict of strings).

    ```python
    Template('{{ .level | ToUpper }}: {{ .msg }}').render({"level": "warn", "msg": "disk full"})
    ```

    Raises ValueError with Go's message and the line and column when the text does not parse (an undefined
    function or variable is a parse error, as in Go).
    """

    __slots__ = ("_blank", "_body", "_frame", "_single", "_state", "fields", "text")

    def __init__(self, text: str, functions: dict[str, Func] | None = None) -> None:
        self.text = text
        table = FUNCTIONS if functions is None else functions
        try:
            parser = Parser(lex(text), {**table, "and": None, "or": None})
            root = parser.parse()
        except TemplateSyntaxError as error:
            line = text.count("\n", 0, error.pos) + 1
            column = error.pos - (text.rfind("\n", 0, error.pos) + 1) + 1
            raise ValueError(f"{error.message} at line {line}, column {column}") from None
        templates: dict[str, tuple[Emit, int]] = {}
        for name, nodes in parser.defines.items():
            compiler = Compiler(table, templates)
            body = compiler.body(nodes)
            templates[name] = (body, compiler.scope.size)
        compiler = Compiler(table, templates)
        self._single: Eval | None = None
        self._body: Emit
        if len(root) == 1 and isinstance(root[0], ActionNode) and not root[0].pipe.decl:
            # One action and nothing else (the most common template): its value is the output.
            self._single = compiler.pipe(root[0].pipe)
            self._body = emit_nothing
        else:
            self._body = compiler.body(root)
        self._frame = compiler.scope.size
        self._blank = [UNSET] * (self._frame - 1)
        # One state, reused: rendering is synchronous and a template never renders itself.
        self._state = State(self._frame, None)
        self.fields = _root_fields(root)

    def render(self, data: Any) -> str:
        """Run the template with `data` as dot; TemplateExecError when Go's execution would fail."""
        st = self._state
        st.vars[0] = data
        if self._blank:
            st.vars[1:] = self._blank
        st.depth = 0
        try:
            if self._single is not None:
                value = self._single(st, data)
                return value if value.__class__ is str else print_value(value)
            out: list[str] = []
            st.out = out
            self._body(st, data)
        except RecursionError:
            raise TemplateExecError("template nesting too deep") from None
        return out[0] if len(out) == 1 else "".join(out)


def _root_fields(nodes: list[Node]) -> frozenset[str] | None:
    """Names the template reads as ``.Name`` at the top level, or None when it may read dot in other ways."""
    if any(isinstance(node, Control | TemplateCall) for node in nodes):
        return None
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ActionNode):
            for cmd in node.pipe.cmds:
                if not _collect_fields(cmd, names):
                    return None
    return frozenset(names)


def _collect_fields(args: list[Node], names: set[str]) -> bool:
    for arg in args:
        if isinstance(arg, Field):
            names.add(arg.names[0])
        elif isinstance(arg, Pipe):
            for cmd in arg.cmds:
                if not _collect_fields(cmd, names):
                    return False
        elif isinstance(arg, Dot | Variable | Chain):
            return False
    return True
