"""Jinja templates in a sandbox: rendering, and the load-time check of the names they use.

A template may use `params.<name>`, `steps.<id>.output` of an earlier step, and `env.<NAME>`
for names the recipe lists; anything else is an error when the recipe is loaded.
"""

from __future__ import annotations

import contextvars
import functools
import json
import re
import shlex
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, NoReturn

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from agentctl.errors import AgentctlError, suggest
from agentctl.yamlload import DataPath, FieldError

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_MAX_REPEAT = 1_000_000


class _Sandbox(SandboxedEnvironment):
    """Jinja sandbox with item-first lookup on dicts (so a param named `items` is the param,
    not dict.items) and caps on `*` and `**`, which could otherwise exhaust memory or CPU."""

    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict) and isinstance(attribute, str) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 1000:
            raise SecurityError("exponent too large in template")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if (
                    isinstance(seq, (str, list, tuple))
                    and isinstance(n, int)
                    and len(seq) * n > _MAX_REPEAT
                ):
                    raise SecurityError("repetition too large in template")
        return super().call_binop(context, operator, left, right)


class Raw(str):
    """Template output that goes into a shell command exactly as written: `| raw`, or text the
    template already quoted with `| q`."""


def _shell_quote(value: Any) -> Raw:
    return Raw(shlex.quote(str(value)))


def _raw(value: Any) -> Raw:
    return Raw(str(value))


_ENV = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_ENV.filters["shell_quote"] = _shell_quote
_ENV.filters["q"] = _shell_quote
_ENV.filters["raw"] = _raw
_SCOPES = ("params", "steps", "env")
_ALWAYS_OK = frozenset({"loop", "caller", "varargs", "kwargs"}) | frozenset(_ENV.globals)
_DICT_METHODS = frozenset({"items", "keys", "values", "get"})
_TEMPLATE_HINT = "a template can use params.<name>, steps.<id>.output and env.<NAME>"
# Marks where a value goes in a rendered shell command, before it is quoted for its place.
_SLOT = re.compile("\x00(\\d+)\x00")


def _quote_for_shell(text: str, values: list[str]) -> str:
    """Put each value into the rendered command `text` (which holds `\\0N\\0` markers where
    values go) so that it is one literal piece of shell text wherever it stands: a word of
    its own outside quotes, an escaped run inside double quotes, and inside single quotes a
    quoted word between closing and reopening the quote."""
    out: list[str] = []
    quote = ""  # "", "'" or '"': the quoting in force at this point of the command
    i = 0
    while i < len(text):
        slot = _SLOT.match(text, i)
        if slot is not None:
            value = values[int(slot.group(1))]
            if quote == "'":
                out.append("'" + shlex.quote(value) + "'")
            elif quote == '"':
                out.append(re.sub(r'([\\$`"])', r"\\\1", value))
            else:
                out.append(shlex.quote(value))
            i = slot.end()
            continue
        char = text[i]
        out.append(char)
        if quote == "'":
            if char == "'":
                quote = ""
        elif char == "\\" and i + 1 < len(text) and text[i + 1] != "\x00":
            out.append(text[i + 1])
            i += 1
        elif quote == '"':
            if char == '"':
                quote = ""
        elif char in "'\"":
            quote = char
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> Template:
    return _ENV.from_string(source)


_SLOT_VALUES: contextvars.ContextVar[list[str]] = contextvars.ContextVar("_SLOT_VALUES")


@pass_context
def _slot(context: Any, value: Any) -> str:
    """Jinja's `finalize` for shell commands: called with the value of every {{ ... }} (never
    literal text); leaves a marker that `_quote_for_shell` replaces. Taking the context keeps
    Jinja from folding constants at compile time, outside any render."""
    if isinstance(value, Raw):
        return str(value).replace("\x00", "")  # never a marker of its own
    values = _SLOT_VALUES.get()
    values.append("" if value is None else str(value))
    return f"\x00{len(values) - 1}\x00"


_SHELL_ENV = _Sandbox(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=_slot
)
_SHELL_ENV.filters.update(_ENV.filters)


@functools.lru_cache(maxsize=256)
def _compile_shell(source: str) -> Template:
    return _SHELL_ENV.from_string(source)


def compile_template(source: str, *, shell: bool = False) -> None:
    """Compile `source` as `render_template` would, without rendering it (compiled templates
    are kept): a warm worker compiles its recipes' commands once, so each job's forked child
    finds them compiled. A template that does not compile is left for its render to report."""
    try:
        (_compile_shell if shell else _compile)(source)
    except Exception:
        pass


def render_template(
    source: str, context: dict[str, Any], *, where: str = "", shell: bool = False
) -> str:
    """Render `source` with `params`, `steps` (id -> {"output": str}) and `env` in scope.

    `shell`: the result is a shell command, so every value is quoted for where it stands
    (see `_quote_for_shell`) unless the template says `| raw` (or quoted it with `| q`)."""
    scope = {"params": {}, "steps": {}, "env": {}, **context}
    label = f" in {where}" if where else ""
    try:
        if not shell:
            return _compile(source).render(scope)
        values: list[str] = []
        token = _SLOT_VALUES.set(values)
        try:
            rendered = _compile_shell(source).render(scope)
        finally:
            _SLOT_VALUES.reset(token)
        return _quote_for_shell(rendered, values)
    except TemplateSyntaxError as e:
        raise AgentctlError(
            f"template syntax error{label} (line {e.lineno}): {e.message}",
            "fix the Jinja syntax: {{ expr }}, {% tag %}",
        ) from None
    except SecurityError as e:
        raise AgentctlError(
            f"template blocked by the sandbox{label}: {e}",
            "templates may read params, steps and env, not Python internals",
        ) from None
    except Exception as e:
        raise AgentctlError(f"template error{label}: {e}", _TEMPLATE_HINT) from None


def _ref(name: str, *keys: str) -> str:
    text = name + "".join(f".{k}" if IDENT.match(k) else f"[{json.dumps(k)}]" for k in keys)
    return "{{ " + text + " }}"


def _static_key(parent: nodes.Node | None, child: nodes.Node | None) -> str | None:
    if isinstance(parent, nodes.Getattr) and parent.node is child:
        return parent.attr
    if (
        isinstance(parent, nodes.Getitem)
        and parent.node is child
        and isinstance(parent.arg, nodes.Const)
        and isinstance(parent.arg.value, str)
    ):
        return parent.arg.value
    return None


def check_template(
    source: str,
    path: DataPath,
    *,
    params: Collection[str],
    env: Collection[str],
    step_ids: Collection[str],
    earlier: Collection[str],
    also: str | None = None,
) -> None:
    """Raise FieldError at `path` if the template does not parse or names something unknown:
    a param not in `params`, an env var not in `env`, a step not among `earlier` steps.

    Pass sets or dicts (a lookup is O(1), so a recipe of N steps checks in O(N)); `also` is
    one more id this template may use (a step's own `check.run` sees its output)."""
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as e:
        raise FieldError(
            path,
            f"template syntax error: {e.message}",
            "Jinja syntax is {{ expr }} and {% tag %}",
            inner_line=e.lineno or 0,
        ) from None
    local = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    _TemplateCheck(path, params, env, step_ids, earlier, also, local).visit(tree, [])


@dataclass(frozen=True)
class _TemplateCheck:
    """The names one template uses, held against what the recipe declares (`check_template`)."""

    path: DataPath
    params: Collection[str]
    env: Collection[str]
    step_ids: Collection[str]
    earlier: Collection[str]
    also: str | None
    local: set[str]  # names the template sets itself ({% set %}, loop variables)

    def fail(self, node: nodes.Node, message: str, hint: str) -> NoReturn:
        raise FieldError(self.path, message, hint, inner_line=getattr(node, "lineno", 0) or 0)

    def visit(self, node: nodes.Node, parents: list[nodes.Node]) -> None:
        if isinstance(node, (nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
            self.fail(
                node,
                "include, extends and import are not available in recipe templates",
                _TEMPLATE_HINT,
            )
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            self.fail(node, f'attribute "{node.attr}" is not allowed in a template', _TEMPLATE_HINT)
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in self.local:
            self.check_name(node, parents)
        for child in node.iter_child_nodes():
            self.visit(child, parents + [node])

    def before(self) -> str:
        # Only for a message: listing the steps is O(N), so never on the success path.
        also = self.also
        shown = [*self.earlier, *([also] if also and also not in self.earlier else [])]
        if len(shown) > 10:  # a long recipe names the nearest ones
            shown = ["...", *shown[-10:]]
        return "steps before this one: " + (", ".join(shown) or "none")

    def check_name(self, node: nodes.Name, parents: list[nodes.Node]) -> None:
        name = node.name
        if name in _ALWAYS_OK:
            return
        if name not in _SCOPES:
            self.fail(
                node,
                f'unknown name "{name}" in {_ref(name)}; {_TEMPLATE_HINT}',
                suggest(name, _SCOPES) or 'a step id with a "-" needs steps["my-step"].output',
            )
        parent = parents[-1] if parents else None
        key = _static_key(parent, node)
        if key is None:
            return  # dynamic lookups are checked when rendering (StrictUndefined)
        if name == "params" and key not in self.params and key not in _DICT_METHODS:
            self.fail(
                node,
                f'unknown param "{key}" in {_ref(name, key)}; params: '
                + (", ".join(self.params) or "none"),
                suggest(key, list(self.params)) or "declare it under params: or fix the name",
            )
        if name == "env" and key not in self.env and key not in _DICT_METHODS:
            self.fail(
                node,
                f'env "{key}" is not listed under env: in {_ref(name, key)}; listed: '
                + (", ".join(self.env) or "none"),
                f"add {key} to the recipe's env: list",
            )
        if name == "steps" and (key not in _DICT_METHODS or key in self.step_ids):
            self.check_step(
                node, key, _static_key(parents[-2] if len(parents) > 1 else None, parent)
            )

    def check_step(self, node: nodes.Name, key: str, attr: str | None) -> None:
        """`steps.KEY.ATTR`: an earlier step (or `also`), and only its `.output`."""
        name = node.name
        if key not in self.step_ids:
            self.fail(
                node,
                f'unknown step "{key}" in {_ref(name, key, "output")}; {self.before()}',
                suggest(key, list(self.earlier)) or "use the id of an earlier step",
            )
        if key not in self.earlier and key != self.also:
            self.fail(
                node,
                f'step "{key}" has not run yet here, so {_ref(name, key, "output")} is '
                f"not available; {self.before()}",
                "a template can only use earlier steps' output",
            )
        if attr is not None and attr != "output":
            self.fail(
                node,
                f"steps.{key} has only .output, not .{attr}",
                "use " + _ref(name, key, "output"),
            )
