"""The template parser (Go's text/template/parse): builds the syntax tree from the lexer's tokens and makes Go's
parse-time checks: undefined functions and variables, `break`/`continue` outside `range`, number literal syntax
and overflow, `define` and `block` bodies.

Not here: tokens (`agent.stages.template_engine.lexer`), running anything
(`agent.stages.template_engine.compiler`).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from agent.stages.template_engine.gostrings import go_parse_float, go_parse_int, go_quote, go_unquote
from agent.stages.template_engine.lexer import TemplateSyntaxError, Token
from agent.stages.template_engine.nodes import (
    ActionNode,
    Chain,
    Control,
    Dot,
    Else,
    End,
    Field,
    Identifier,
    Jump,
    Literal,
    Nil,
    Node,
    Pipe,
    TemplateCall,
    TextNode,
    Variable,
)


class Parser:
    """Go's text/template/parse, over the token list: builds the tree and makes Go's parse-time checks."""

    def __init__(self, tokens: list[Token], functions: dict[str, Any]) -> None:
        self.tokens = tokens
        self.index = 0
        self.functions = functions
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.defines: dict[str, list[Node]] = {}

    # token access
    def next(self) -> Token:
        token = self.tokens[min(self.index, len(self.tokens) - 1)]
        self.index += 1
        return token

    def backup(self, count: int = 1) -> None:
        self.index -= count

    def peek(self) -> Token:
        return self.tokens[min(self.index, len(self.tokens) - 1)]

    def next_non_space(self) -> Token:
        token = self.next()
        while token.kind == "space":
            token = self.next()
        return token

    def peek_non_space(self) -> Token:
        token = self.next_non_space()
        self.backup()
        return token

    def fail(self, message: str, pos: int) -> TemplateSyntaxError:
        return TemplateSyntaxError(message, pos)

    def unexpected(self, token: Token, context: str) -> TemplateSyntaxError:
        shown = "EOF" if token.kind == "eof" else go_quote(token.value)
        return self.fail(f"unexpected {shown} in {context}", token.pos)

    def expect(self, kind: str, context: str) -> Token:
        token = self.next_non_space()
        if token.kind != kind:
            raise self.unexpected(token, context)
        return token

    # structure
    def parse(self) -> list[Node]:
        root: list[Node] = []
        while self.peek().kind != "eof":
            if self.peek().kind == "left":
                saved = self.index
                self.next()
                keyword = self.next_non_space()
                if keyword.kind == "keyword" and keyword.value == "define":
                    self.parse_definition()
                    continue
                self.index = saved
            node = self.text_or_action()
            if isinstance(node, End | Else):
                raise self.fail(f"unexpected {{{{{node.text}}}}}", node.pos)
            root.append(node)
        return root

    def parse_definition(self) -> None:
        token = self.next_non_space()
        name = self.template_name(token, "define clause")
        self.expect("right", "define clause")
        saved_vars, self.vars = self.vars, ["$"]
        body, end = self.item_list()
        self.vars = saved_vars
        if not isinstance(end, End):
            raise self.fail(f"unexpected {{{{{end.text}}}}} in define clause", end.pos)
        if self.defines.get(name):
            if body:
                raise self.fail(f"multiple definition of template {go_quote(name)}", token.pos)
            return
        self.defines[name] = body

    def template_name(self, token: Token, context: str) -> str:
        if token.kind in ("string", "raw"):
            try:
                return go_unquote(token.value)
            except ValueError:
                raise self.fail(f"invalid string {token.value}", token.pos) from None
        raise self.unexpected(token, context)

    def item_list(self) -> tuple[list[Node], Node]:
        nodes: list[Node] = []
        while self.peek_non_space().kind != "eof":
            node = self.text_or_action()
            if isinstance(node, End | Else):
                return nodes, node
            nodes.append(node)
        raise self.fail("unexpected EOF", self.peek().pos)

    def text_or_action(self) -> Node:
        token = self.next_non_space()
        if token.kind == "text":
            return TextNode(token.pos, token.value)
        if token.kind == "left":
            return self.action()
        raise self.unexpected(token, "input")

    def action(self) -> Node:
        token = self.next_non_space()
        if token.kind == "keyword":
            word = token.value
            if word == "if":
                return self.control("if", token.pos)
            if word == "with":
                return self.control("with", token.pos)
            if word == "range":
                return self.control("range", token.pos)
            if word == "else":
                peek = self.peek_non_space()
                if peek.kind == "keyword" and peek.value in ("if", "with"):
                    return Else(peek.pos, "else " + peek.value)
                self.expect("right", "else")
                return Else(token.pos, "else")
            if word == "end":
                self.expect("right", "end")
                return End(token.pos, "end")
            if word in ("break", "continue"):
                after = self.next_non_space()
                if after.kind != "right":
                    raise self.unexpected(after, f"{{{{{word}}}}}")
                if not self.range_depth:
                    raise self.fail(f"{{{{{word}}}}} outside {{{{range}}}}", token.pos)
                return Jump(token.pos, word)
            if word == "template":
                return self.template_call(token)
            if word == "block":
                return self.block(token)
        self.backup()
        start = self.peek()
        return ActionNode(start.pos, "action", self.pipeline("command", "right"))

    def control(self, kind: str, pos: int) -> Control:
        mark = len(self.vars)
        pipe = self.pipeline(kind, "right")
        if kind == "range":
            self.range_depth += 1
        body, next_node = self.item_list()
        if kind == "range":
            self.range_depth -= 1
        else_body: list[Node] | None = None
        if isinstance(next_node, Else):
            if next_node.text == f"else {kind}" and kind in ("if", "with"):
                self.next_non_space()  # the nested `if`/`with` keyword
                else_body = [self.control(kind, next_node.pos)]
            else:
                if next_node.text != "else":
                    raise self.fail(f"unexpected {{{{{next_node.text}}}}}", next_node.pos)
                else_body, end = self.item_list()
                if not isinstance(end, End):
                    raise self.fail(f"expected end; found {{{{{end.text}}}}}", end.pos)
        del self.vars[mark:]
        return Control(pos, kind, pipe, body, else_body)

    def template_call(self, token: Token) -> TemplateCall:
        name_token = self.next_non_space()
        name = self.template_name(name_token, "template clause")
        pipe: Pipe | None = None
        if self.next_non_space().kind != "right":
            self.backup()
            pipe = self.pipeline("template clause", "right")
        return TemplateCall(token.pos, name, pipe)

    def block(self, token: Token) -> TemplateCall:
        name_token = self.next_non_space()
        name = self.template_name(name_token, "block clause")
        pipe: Pipe | None = None
        if self.next_non_space().kind != "right":
            self.backup()
            pipe = self.pipeline("block clause", "right")
        saved_vars, saved_depth = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        body, end = self.item_list()
        self.vars, self.range_depth = saved_vars, saved_depth
        if not isinstance(end, End):
            raise self.fail(f"unexpected {{{{{end.text}}}}} in block clause", end.pos)
        self.defines.setdefault(name, body)
        return TemplateCall(token.pos, name, pipe)

    def pipeline(self, context: str, end: str) -> Pipe:
        first = self.peek_non_space()
        pipe = Pipe(first.pos, context)
        while True:
            token = self.peek_non_space()
            if token.kind != "var":
                break
            self.next_non_space()
            variable_index = self.index - 1
            following = self.peek_non_space()
            if following.kind in ("assign", "declare"):
                pipe.is_assign = following.kind == "assign"
                self.next_non_space()
                pipe.decl.append(token.value)
                self.vars.append(token.value)
                break
            if following.kind == "punct" and following.value == ",":
                self.next_non_space()
                pipe.decl.append(token.value)
                self.vars.append(token.value)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().kind in ("var", "right", "rparen"):
                        continue
                    raise self.fail("range can only initialize variables", following.pos)
                raise self.fail(f"too many declarations in {context}", following.pos)
            self.index = variable_index  # not a declaration: the variable is an operand
            break
        while True:
            token = self.next_non_space()
            if token.kind == end:
                if not pipe.cmds:
                    raise self.fail(f"missing value for {context}", token.pos)
                for stage, cmd in enumerate(pipe.cmds[1:], 2):
                    if isinstance(cmd[0], Literal | Dot | Nil):
                        raise self.fail(f"non executable command in pipeline stage {stage}", cmd[0].pos)
                return pipe
            if token.kind in (
                "bool",
                "char",
                "dot",
                "field",
                "ident",
                "number",
                "nil",
                "raw",
                "string",
                "var",
                "lparen",
            ):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(token, context)

    def command(self) -> list[Node]:
        args: list[Node] = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            token = self.next()
            if token.kind == "space":
                continue
            if token.kind in ("right", "rparen"):
                self.backup()
            elif token.kind != "pipe":
                raise self.unexpected(token, "operand")
            break
        if not args:
            raise self.fail("empty command", self.peek().pos)
        return args

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind == "field":
            names: list[str] = []
            text = node.text
            while self.peek().kind == "field":
                field = self.next()
                names.append(field.value[1:])
                text += field.value
            if isinstance(node, Field):
                return Field(node.pos, text, node.names + names)
            if isinstance(node, Variable):
                return Variable(node.pos, text, node.name, node.names + names)
            if isinstance(node, Literal | Nil | Dot):
                raise self.fail(f"unexpected . after term {go_quote(node.text)}", node.pos)
            return Chain(node.pos, text, node, names)
        return node

    def term(self) -> Node | None:
        token = self.next_non_space()
        kind = token.kind
        if kind == "ident":
            if token.value not in self.functions:
                raise self.fail(f"function {go_quote(token.value)} not defined", token.pos)
            return Identifier(token.pos, token.value)
        if kind == "dot":
            return Dot(token.pos, ".")
        if kind == "nil":
            return Nil(token.pos, "nil")
        if kind == "var":
            if token.value not in self.vars:
                raise self.fail(f"undefined variable {go_quote(token.value)}", token.pos)
            return Variable(token.pos, token.value, token.value, [])
        if kind == "field":
            return Field(token.pos, token.value, [token.value[1:]])
        if kind == "bool":
            return Literal(token.pos, token.value, "bool", token.value == "true")
        if kind in ("number", "char"):
            return self.number(token)
        if kind == "lparen":
            pipe = self.pipeline("parenthesized pipeline", "rparen")
            pipe.text = "(" + pipe.text + ")"
            return pipe
        if kind in ("string", "raw"):
            try:
                value = go_unquote(token.value)
            except ValueError:
                raise self.fail(f"invalid syntax: {token.value}", token.pos) from None
            return Literal(token.pos, token.value, "string", value)
        self.backup()
        return None

    def number(self, token: Token) -> Literal:
        text = token.value
        node = Literal(token.pos, text, "number", None)
        if token.kind == "char":
            try:
                rune = ord(go_unquote(text))
            except (ValueError, TypeError):
                raise self.fail(f"malformed character constant: {text}", token.pos) from None
            node.as_int, node.as_float, node.value = rune, float(rune), rune
            return node
        with contextlib.suppress(ValueError):
            node.as_int = go_parse_int(text)
        if node.as_int is not None:
            node.as_float = float(node.as_int)
        else:
            try:
                parsed = go_parse_float(text)
            except ValueError:
                raise self.fail(f"illegal number syntax: {go_quote(text)}", token.pos) from None
            if not any(c in text for c in ".eEpP"):
                raise self.fail(f"integer overflow: {go_quote(text)}", token.pos)
            if math.isinf(parsed):
                raise self.fail(f"illegal number syntax: {go_quote(text)}", token.pos)
            node.as_float = parsed
            if parsed.is_integer() and -(1 << 63) <= parsed < (1 << 63):
                node.as_int = int(parsed)
        # In a context without a type (printing, interface{} arguments) Go picks by the spelling.
        is_hex_int = text.lstrip("+-")[:2].lower() == "0x" and not any(c in text for c in "pP")
        if not is_hex_int and any(c in text for c in ".eEpP"):
            node.value = node.as_float
        else:
            node.value = node.as_int
        return node
