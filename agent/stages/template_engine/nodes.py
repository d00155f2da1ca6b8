"""The template syntax tree, as Go's text/template/parse shapes it: text, actions, pipelines and their operands
(fields, variables, chains, literals), `if`/`with`/`range`, `break`/`continue` and `template` calls.

Nodes only hold data: `agent.stages.template_engine.parser` builds them and
`agent.stages.template_engine.compiler` turns them into closures.
"""

from __future__ import annotations

from typing import Any


class Node:
    """A node: where it starts in the source and its source form."""

    __slots__ = ("pos", "text")

    def __init__(self, pos: int, text: str) -> None:
        self.pos = pos
        self.text = text  # the source form, for messages ("expected string; found 3")


class Pipe(Node):
    __slots__ = ("cmds", "decl", "is_assign")

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos, text)
        self.decl: list[str] = []
        self.is_assign = False
        self.cmds: list[list[Node]] = []


class Field(Node):
    __slots__ = ("names",)

    def __init__(self, pos: int, text: str, names: list[str]) -> None:
        super().__init__(pos, text)
        self.names = names


class Variable(Node):
    __slots__ = ("name", "names")

    def __init__(self, pos: int, text: str, name: str, names: list[str]) -> None:
        super().__init__(pos, text)
        self.name = name
        self.names = names


class Chain(Node):
    __slots__ = ("names", "node")

    def __init__(self, pos: int, text: str, node: Node, names: list[str]) -> None:
        super().__init__(pos, text)
        self.node = node
        self.names = names


class Identifier(Node):
    __slots__ = ()


class Dot(Node):
    __slots__ = ()


class Nil(Node):
    __slots__ = ()


class Literal(Node):
    """A bool, string or number literal. Numbers carry what Go's NumberNode knows about them."""

    __slots__ = ("as_float", "as_int", "kind", "value")

    def __init__(self, pos: int, text: str, kind: str, value: Any) -> None:
        super().__init__(pos, text)
        self.kind = kind  # bool, string, number
        self.value = value
        self.as_int: int | None = None
        self.as_float: float | None = None


class TextNode(Node):
    __slots__ = ()


class ActionNode(Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, text: str, pipe: Pipe) -> None:
        super().__init__(pos, text)
        self.pipe = pipe


class Control(Node):
    """`if`, `with` or `range` (`kind`), with its pipeline, body and else body."""

    __slots__ = ("body", "else_body", "kind", "pipe")

    def __init__(self, pos: int, kind: str, pipe: Pipe, body: list[Node], else_body: list[Node] | None) -> None:
        super().__init__(pos, kind)
        self.kind = kind
        self.pipe = pipe
        self.body = body
        self.else_body = else_body


class Jump(Node):
    """`break` or `continue` (`text`)."""

    __slots__ = ()


class TemplateCall(Node):
    __slots__ = ("name", "pipe")

    def __init__(self, pos: int, name: str, pipe: Pipe | None) -> None:
        super().__init__(pos, "template")
        self.name = name
        self.pipe = pipe


class End(Node):
    __slots__ = ()


class Else(Node):
    __slots__ = ()
