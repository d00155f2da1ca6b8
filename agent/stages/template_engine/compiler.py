"""Compiles the syntax tree into closures, once, that follow Go's run-time rules: variables resolved to slots,
field lookup on maps (a missing key is nil), `and`/`or` short-circuiting and returning an operand, `range` over
lists, maps and ints with `break`/`continue`, nested `template` calls (depth-limited), and function calls whose
arguments are checked against the function's `Func` kinds (a function's failure becomes `TemplateExecError`
"error calling NAME: ...").

Not here: parsing (`agent.stages.template_engine.parser`), the public `Template`
(`agent.stages.template_engine.template`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agent.stages.template_engine.gostrings import go_quote
from agent.stages.template_engine.nodes import (
    ActionNode,
    Chain,
    Control,
    Dot,
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
from agent.stages.template_engine.signature import Func, check_kind, literal_for_kind
from agent.stages.template_engine.values import Int64, TemplateExecError, format_value, go_type, print_value, truth

_MAX_DEPTH = 1000  # nested {{template}} calls (Go allows 100000; Python's stack does not)


class State:
    """One render's mutable state: the output pieces, the variable slots and the template call depth."""

    __slots__ = ("depth", "out", "vars")

    def __init__(self, frame: int, data: Any) -> None:
        self.out: list[str] = []
        self.vars: list[Any] = [data] + [UNSET] * (frame - 1)
        self.depth = 0


class _Unset:
    __slots__ = ()


UNSET: Any = _Unset()  # a variable slot not assigned yet in this render


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


Eval = Callable[[State, Any], Any]
Emit = Callable[[State, Any], None]
Call = Callable[[State, Any, Any], Any]  # (state, dot, final) -> value; final is _NO_FINAL when absent

_NO_FINAL: Any = object()
# What a function may raise on odd input; Go recovers a function's panic into an execution error too.
_FUNCTION_ERRORS = (
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
    ZeroDivisionError,
    OverflowError,
    RecursionError,
    UnicodeError,
)


def _field(receiver: Any, name: str, has_args: bool) -> Any:
    """Go's evalField on a template value: map lookup (missing: nil), errors for anything else."""
    if receiver is None:
        return None
    if isinstance(receiver, dict):
        if has_args:
            raise TemplateExecError(f"{name} is not a method but has arguments")
        return receiver.get(name)
    raise TemplateExecError(f"can't evaluate field {name} in type {go_type(receiver)}")


def _raiser(message: str) -> Eval:
    def fail(st: State, dot: Any) -> Any:
        raise TemplateExecError(message)

    return fail


class _Scope:
    """Compile-time variable slots: Go's run-time variable stack, resolved once."""

    def __init__(self) -> None:
        self.names: list[tuple[str, int]] = [("$", 0)]
        self.size = 1

    def declare(self, name: str) -> int:
        slot = self.size
        self.size += 1
        self.names.append((name, slot))
        return slot

    def lookup(self, name: str) -> int | None:
        for known, slot in reversed(self.names):
            if known == name:
                return slot
        return None


class Compiler:
    """Turns the syntax tree into closures; each node is compiled once."""

    def __init__(self, functions: dict[str, Func], templates: dict[str, tuple[Emit, int]]) -> None:
        self.functions = functions
        self.templates = templates
        self.scope = _Scope()

    def body(self, nodes: list[Node]) -> Emit:
        emitters = [self.node(node) for node in nodes]
        if not emitters:
            return emit_nothing
        if len(emitters) == 1:
            return emitters[0]
        emitters_tuple = tuple(emitters)

        def emit_all(st: State, dot: Any) -> None:
            for emit in emitters_tuple:
                emit(st, dot)

        return emit_all

    def node(self, node: Node) -> Emit:
        if isinstance(node, TextNode):
            text = node.text

            def emit_text(st: State, dot: Any) -> None:
                st.out.append(text)

            return emit_text
        if isinstance(node, ActionNode):
            pipe = self.pipe(node.pipe)
            if node.pipe.decl:

                def emit_declaration(st: State, dot: Any) -> None:
                    pipe(st, dot)

                return emit_declaration

            def emit_action(st: State, dot: Any) -> None:
                value = pipe(st, dot)
                st.out.append(value if value.__class__ is str else print_value(value))

            return emit_action
        if isinstance(node, Control):
            return self.control(node)
        if isinstance(node, Jump):
            jump = _Break if node.text == "break" else _Continue

            def emit_jump(st: State, dot: Any) -> None:
                raise jump

            return emit_jump
        if isinstance(node, TemplateCall):
            return self.template_call(node)
        raise AssertionError(f"unknown node {node!r}")

    def control(self, node: Control) -> Emit:
        mark = len(self.scope.names)
        pipe = self.pipe(node.pipe)
        decl_slots = [slot for name, slot in self.scope.names[mark:]]
        body = self.body(node.body)
        else_body = self.body(node.else_body) if node.else_body is not None else None
        del self.scope.names[mark:]
        if node.kind == "if":

            def emit_if(st: State, dot: Any) -> None:
                if truth(pipe(st, dot)):
                    body(st, dot)
                elif else_body is not None:
                    else_body(st, dot)

            return emit_if
        if node.kind == "with":

            def emit_with(st: State, dot: Any) -> None:
                value = pipe(st, dot)
                if truth(value):
                    body(st, value)
                elif else_body is not None:
                    else_body(st, dot)

            return emit_with
        element_slot = decl_slots[-1] if decl_slots else None
        index_slot = decl_slots[0] if len(decl_slots) > 1 else None

        def emit_range(st: State, dot: Any) -> None:
            value = pipe(st, dot)
            pairs: Sequence[tuple[Any, Any]]
            if value is None:
                pairs = ()
            elif isinstance(value, list):
                pairs = list(enumerate(value))
            elif isinstance(value, dict):
                pairs = [(key, value[key]) for key in sorted(value)]
            elif value.__class__ is int or value.__class__ is Int64:
                if index_slot is not None:
                    raise TemplateExecError(f"can't use {value} to iterate over more than one variable")
                pairs = [(i, i) for i in range(int(value))]
            else:
                raise TemplateExecError(f"range can't iterate over {format_value(value)}")
            if not pairs:
                if else_body is not None:
                    else_body(st, dot)
                return
            variables = st.vars
            for key, element in pairs:
                if element_slot is not None:
                    variables[element_slot] = element
                if index_slot is not None:
                    variables[index_slot] = key
                try:
                    body(st, element)
                except _Continue:
                    continue
                except _Break:
                    break

        return emit_range

    def template_call(self, node: TemplateCall) -> Emit:
        pipe = self.pipe(node.pipe) if node.pipe is not None else None
        name = node.name
        templates = self.templates

        def emit_template(st: State, dot: Any) -> None:
            found = templates.get(name)
            if found is None:
                raise TemplateExecError(f"template {go_quote(name)} not defined")
            body, frame = found
            value = pipe(st, dot) if pipe is not None else None
            if st.depth >= _MAX_DEPTH:
                raise TemplateExecError(f"exceeded maximum template depth ({_MAX_DEPTH})")
            saved = st.vars
            st.vars = [value] + [UNSET] * (frame - 1)
            st.depth += 1
            try:
                body(st, value)
            finally:
                st.vars = saved
                st.depth -= 1

        return emit_template

    # pipelines and commands: the first command of a pipeline is an `Eval`; later ones get the value piped in
    def pipe(self, pipe: Pipe) -> Eval:
        first = self.command(pipe.cmds[0])
        rest = tuple(self.piped_command(cmd) for cmd in pipe.cmds[1:])
        targets: list[int | None] = []
        for name in pipe.decl:
            targets.append(self.scope.lookup(name) if pipe.is_assign else self.scope.declare(name))
        if not rest and not targets:
            return first
        names = tuple(pipe.decl)

        def evaluate(st: State, dot: Any) -> Any:
            value = first(st, dot)
            for command in rest:
                value = command(st, dot, value)
            for index, slot in enumerate(targets):
                if slot is None:
                    raise TemplateExecError(f"undefined variable: {names[index]}")
                st.vars[slot] = value
            return value

        return evaluate

    def command(self, args: list[Node]) -> Eval:
        first, rest = args[0], args[1:]
        if isinstance(first, Identifier):
            return self.call(first.text, rest)
        receiver = self.receiver(first)
        if receiver is not None:
            return self.field_chain(receiver[0], receiver[1], rest, has_args=bool(rest))
        if rest:
            return _raiser(f"can't give argument to non-function {first.text}")
        if isinstance(first, Nil):
            return _raiser("nil is not a command")
        return self.operand(first)

    def piped_command(self, args: list[Node]) -> Call:
        first, rest = args[0], args[1:]
        if isinstance(first, Identifier):
            return self.piped_call(first.text, rest)
        receiver = self.receiver(first)
        if receiver is None:
            return _call_raiser(f"can't give argument to non-function {first.text}")
        lookup = self.field_chain(receiver[0], receiver[1], rest, has_args=True)
        return lambda st, dot, final: lookup(st, dot)

    def receiver(self, node: Node) -> tuple[Eval | None, list[str]] | None:
        """For a field chain (``.a.b``, ``$x.a``, ``(pipe).a``): what it starts from (None: dot) and the names."""
        if isinstance(node, Field):
            return None, node.names
        if isinstance(node, Chain):
            return self.operand(node.node), node.names
        if isinstance(node, Variable) and node.names:
            return self.variable(node.name), node.names
        return None

    def variable(self, name: str) -> Eval:
        slot = self.scope.lookup(name)
        if slot is None:
            return _raiser(f"undefined variable: {name}")

        def read(st: State, dot: Any) -> Any:
            value = st.vars[slot]
            if value is UNSET:
                raise TemplateExecError(f"undefined variable: {name}")
            return value

        return read

    def field_chain(self, receiver: Eval | None, names: list[str], args: list[Node], *, has_args: bool) -> Eval:
        for arg in args:  # Go evaluates none of them (a field takes no arguments), but they must compile
            self.operand(arg)
        last = names[-1]
        head = tuple(names[:-1])
        if receiver is None and not head:
            if has_args:
                return lambda st, dot: _field(dot, last, True)

            def read_field(st: State, dot: Any) -> Any:
                return dot.get(last) if dot.__class__ is dict else _field(dot, last, False)

            return read_field

        def lookup(st: State, dot: Any) -> Any:
            value = dot if receiver is None else receiver(st, dot)
            for name in head:
                value = _field(value, name, False)
            return _field(value, last, has_args)

        return lookup

    def operand(self, node: Node) -> Eval:
        """An operand evaluated for its value (no arguments, nothing piped in)."""
        receiver = self.receiver(node)
        if receiver is not None:
            return self.field_chain(receiver[0], receiver[1], [], has_args=False)
        if isinstance(node, Variable):
            return self.variable(node.name)
        if isinstance(node, Identifier):
            return self.call(node.text, [])
        if isinstance(node, Pipe):
            return self.pipe(node)
        if isinstance(node, Dot):
            return lambda st, dot: dot
        if isinstance(node, Nil):
            return lambda st, dot: None
        assert isinstance(node, Literal)
        constant = node.value
        return lambda st, dot: constant

    def argument(self, node: Node, kind: str) -> Eval:
        """An argument for a parameter of `kind`: literals converted now (or failing when run), others checked."""
        if isinstance(node, Literal | Nil):
            try:
                constant = literal_for_kind(kind, node)
            except TemplateExecError as error:
                return _raiser(str(error))
            return lambda st, dot: constant
        if kind == "string" and isinstance(node, Field) and len(node.names) == 1:
            name = node.names[0]

            def string_field(st: State, dot: Any) -> Any:
                value = dot.get(name) if dot.__class__ is dict else _field(dot, name, False)
                return value if value.__class__ is str else check_kind("string", value)

            return string_field
        value = self.operand(node)
        if kind in ("any", "value"):
            return value
        if kind == "string":

            def string_argument(st: State, dot: Any) -> Any:
                result = value(st, dot)
                return result if result.__class__ is str else check_kind("string", result)

            return string_argument
        return lambda st, dot: check_kind(kind, value(st, dot))

    def signature(self, name: str, args: list[Node], piped: bool) -> tuple[Func, list[str]] | str:
        """The function and the parameter kind of each argument (the piped one last), or Go's arity error."""
        func = self.functions[name]
        count = len(args) + (1 if piped else 0)
        fixed = len(func.params)
        if func.variadic is None and count != fixed:
            return f"wrong number of args for {name}: want {fixed} got {count}"
        if func.variadic is not None and count < fixed:
            return f"wrong number of args for {name}: want at least {fixed} got {len(args)}"
        return func, [func.params[i] if i < fixed else func.variadic or "any" for i in range(count)]

    def call(self, name: str, args: list[Node]) -> Eval:
        if name in ("and", "or"):
            logic = self.and_or(name == "or", args, piped=False)
            return lambda st, dot: logic(st, dot, _NO_FINAL)
        found = self.signature(name, args, piped=False)
        if isinstance(found, str):
            return _raiser(found)
        func, kinds = found
        impl = func.impl
        evaluators = tuple(self.argument(arg, kinds[i]) for i, arg in enumerate(args))
        if not evaluators:
            return lambda st, dot: _invoke(name, impl, ())
        if len(evaluators) == 1:
            (only,) = evaluators

            def call_one(st: State, dot: Any) -> Any:
                argument = only(st, dot)
                try:
                    return impl(argument)
                except TemplateExecError as error:
                    raise TemplateExecError(f"error calling {name}: {error}") from None
                except _FUNCTION_ERRORS as error:
                    raise TemplateExecError(f"error calling {name}: {error}") from None

            return call_one

        def call_many(st: State, dot: Any) -> Any:
            return _invoke(name, impl, [evaluate(st, dot) for evaluate in evaluators])

        return call_many

    def piped_call(self, name: str, args: list[Node]) -> Call:
        if name in ("and", "or"):
            return self.and_or(name == "or", args, piped=True)
        found = self.signature(name, args, piped=True)
        if isinstance(found, str):
            return _call_raiser(found)
        func, kinds = found
        impl = func.impl
        evaluators = tuple(self.argument(arg, kinds[i]) for i, arg in enumerate(args))
        final_kind = kinds[-1]

        def call_piped(st: State, dot: Any, final: Any) -> Any:
            argv = [evaluate(st, dot) for evaluate in evaluators]
            argv.append(final if final.__class__ is str and final_kind == "string" else check_kind(final_kind, final))
            return _invoke(name, impl, argv)

        return call_piped

    def and_or(self, is_or: bool, args: list[Node], *, piped: bool) -> Call:
        name = "or" if is_or else "and"
        if not args and not piped:
            return _call_raiser(f"wrong number of args for {name}: want at least 1 got 0")
        evaluators = tuple(self.argument(arg, "value") for arg in args)

        def short_circuit(st: State, dot: Any, final: Any) -> Any:
            value: Any = None
            for evaluate in evaluators:
                value = evaluate(st, dot)
                if truth(value) == is_or:
                    return value
            if final is not _NO_FINAL:
                value = final
            return value

        return short_circuit


def _invoke(name: str, impl: Callable[..., Any], argv: Sequence[Any]) -> Any:
    try:
        return impl(*argv)
    except TemplateExecError as error:
        raise TemplateExecError(f"error calling {name}: {error}") from None
    except _FUNCTION_ERRORS as error:
        raise TemplateExecError(f"error calling {name}: {error}") from None


def emit_nothing(st: State, dot: Any) -> None:
    """The body of an empty template."""
    return None


def _call_raiser(message: str) -> Call:
    def fail(st: State, dot: Any, final: Any) -> Any:
        raise TemplateExecError(message)

    return fail
