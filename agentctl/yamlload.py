"""Loading recipe-like YAML with a line:column for every key and value, and turning a validation
failure into one RecipeError that points at the offending spot in the file.

Owns: the safe YAML loader (duplicate keys and alias bombs rejected, `<<` merges kept), the
`Positions` map from a data path such as ("steps", 1, "agent") to where it sits in the file,
`FieldError` (a ValueError a pydantic validator raises to name a path), and the mapping from a
pydantic ValidationError to a RecipeError. Nothing here knows the recipe schema, so the policy
loader can reuse it.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import BaseModel, ValidationError

from agentctl.errors import RecipeError

# Nodes an alias may expand to, summed over all aliases. A real recipe uses a few dozen; the
# "billion laughs" needs millions, and pydantic would walk every one of them.
MAX_ALIAS_NODES = 10_000

DataPath = tuple[str | int, ...]  # str keys and int indices, as in a pydantic error's loc

_MERGE_TAG = "tag:yaml.org,2002:merge"
_IDENT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based
    literal: bool = False  # a `|` block scalar: its text starts on the next line


@dataclass
class Positions:
    values: dict[DataPath, Mark] = field(default_factory=dict)
    keys: dict[DataPath, Mark] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def value(self, path: DataPath) -> Mark | None:
        """Where the value at `path` starts, else the nearest parent that has a position."""
        path = tuple(path)
        while True:
            if path in self.values:
                return self.values[path]
            if not path:
                return None
            path = path[:-1]

    def key(self, path: DataPath) -> Mark | None:
        """Where the key naming `path` sits; a list item or the root has no key, so its value."""
        path = tuple(path)
        return self.keys.get(path) or self.value(path)

    def inner_line(self, mark: Mark, inner_line: int) -> Mark:
        """Line `inner_line` (1-based) of a `|` block's text; other scalars fold, so stay put."""
        if not mark.literal or inner_line < 1:
            return mark
        line = mark.line + inner_line
        if line > len(self.lines):
            return mark
        text = self.lines[line - 1]
        return Mark(line, len(text) - len(text.lstrip(" ")) + 1)


class FieldError(ValueError):
    """Raised by a validator to blame a path (relative to the model that raises it)."""

    def __init__(
        self,
        path: DataPath,
        message: str,
        hint: str = "",
        *,
        at_key: bool = False,
        inner_line: int = 0,
    ):
        super().__init__(message)
        self.path = tuple(path)
        self.message = message
        self.hint = hint
        self.at_key = at_key
        self.inner_line = inner_line


class FieldErrors(ValueError):
    """Several FieldErrors from one validator (a cross-check reports every problem it finds)."""

    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


class _Problem(Exception):
    def __init__(self, message: str, mark: Any, hint: str = ""):
        super().__init__(message)
        self.message, self.mark, self.hint = message, mark, hint


def _mark(node: yaml.Node) -> Mark:
    m = node.start_mark
    literal = isinstance(node, yaml.ScalarNode) and node.style == "|"
    return Mark(m.line + 1, m.column + 1, literal)


class _Loader(yaml.SafeLoader):
    """SafeLoader that caps alias expansion while composing, before anything walks the graph."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._open_anchors: set[str] = set()
        self._sizes: dict[int, int] = {}
        self._alias_nodes = 0

    def _next_event(self) -> yaml.Event:
        """The parser's next event, not consumed (types-PyYAML leaves `peek_event` untyped)."""
        peek: Callable[[], yaml.Event] = self.peek_event
        return peek()

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = cast(yaml.AliasEvent, self._next_event())
            node = self.anchors.get(event.anchor)
            if node is not None:
                if event.anchor in self._open_anchors:
                    raise _Problem(
                        f"recursive alias *{event.anchor} (it refers to itself)",
                        event.start_mark,
                        "an alias may only refer to a finished node",
                    )
                self._alias_nodes += self._size(node)
                if self._alias_nodes > MAX_ALIAS_NODES:
                    raise _Problem(
                        f"too many aliases: they expand to more than {MAX_ALIAS_NODES} nodes",
                        event.start_mark,
                        "use fewer or smaller `*alias` references",
                    )
            return super().compose_node(parent, index)
        anchor = getattr(self._next_event(), "anchor", None)
        if anchor is None:
            return super().compose_node(parent, index)
        self._open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open_anchors.discard(anchor)

    def _size(self, node: yaml.Node) -> int:
        # Memoised by node so shared subtrees cost one visit, yet the count is the expanded size.
        key = id(node)
        if key not in self._sizes:
            if isinstance(node, yaml.SequenceNode):
                n = 1 + sum(self._size(c) for c in node.value)
            elif isinstance(node, yaml.MappingNode):
                n = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
            else:
                n = 1
            self._sizes[key] = n
        return self._sizes[key]


class _Builder:
    """Turns the node graph into plain data, recording each path's key and value position."""

    def __init__(self, loader: _Loader, positions: Positions):
        self.loader, self.pos = loader, positions

    def build(self, node: yaml.Node, path: DataPath) -> Any:
        if isinstance(node, yaml.SequenceNode):
            self.pos.values[path] = _mark(node)
            return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        self.pos.values[path] = _mark(node)
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: DataPath) -> dict[Any, Any]:
        explicit: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
        merges: list[yaml.MappingNode] = []
        merge_key: yaml.Node | None = None
        for knode, vnode in node.value:
            if knode.tag == _MERGE_TAG:
                if merge_key is not None:
                    raise _Problem(
                        'duplicate key "<<"',
                        knode.start_mark,
                        "merge several mappings with `<<: [*a, *b]`",
                    )
                merge_key = knode
                merges = self._merge_sources(vnode)
                continue
            if not isinstance(knode, yaml.ScalarNode):
                raise _Problem(
                    "a mapping key must be a plain value, not a list or mapping", knode.start_mark
                )
            key = self.loader.construct_object(knode)
            try:
                hash(key)
            except TypeError:
                raise _Problem("a mapping key must be a plain value", knode.start_mark) from None
            if key in explicit:
                first = explicit[key][0].start_mark
                raise _Problem(
                    f'duplicate key "{key}" (first defined on line {first.line + 1})',
                    knode.start_mark,
                    "each key may appear once in a mapping",
                )
            explicit[key] = (knode, vnode)
        result: dict[Any, Any] = {}
        # Earlier merge sources win (YAML merge rules), so build them last.
        for src in reversed(merges):
            result.update(self._mapping(src, path))
        self.pos.values[path] = _mark(node)
        for key, (knode, vnode) in explicit.items():
            self.pos.keys[path + (key,)] = _mark(knode)
            result[key] = self.build(vnode, path + (key,))
        return result

    @staticmethod
    def _merge_sources(vnode: yaml.Node) -> list[yaml.MappingNode]:
        items = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
        sources: list[yaml.MappingNode] = []
        for item in items:
            if not isinstance(item, yaml.MappingNode):
                raise _Problem(
                    "`<<` merges a mapping or a list of mappings",
                    item.start_mark,
                    "write `<<: *name` where `&name` labels a mapping",
                )
            sources.append(item)
        return sources


def load_yaml(text: str, filename: str) -> tuple[Any, Positions]:
    """Parse one YAML document into plain data plus positions; any problem is a RecipeError."""
    positions = Positions(lines=text.splitlines())
    loader = None
    try:
        loader = _Loader(text)  # the reader rejects control characters right here
        node = loader.get_single_node()
        if node is None:
            raise RecipeError(
                "the file is empty",
                "a recipe is a YAML mapping; start with `version: 1` and `name: ...`",
                file=filename,
                line=1,
                column=1,
            )
        data = _Builder(loader, positions).build(node, ())
    except _Problem as e:
        raise RecipeError(
            e.message, e.hint, file=filename, line=e.mark.line + 1, column=e.mark.column + 1
        ) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        message = "YAML syntax error: " + (e.problem or "invalid YAML")
        if e.context:
            message += f" ({e.context})"
        raise RecipeError(
            message,
            "check the indentation and quoting near that spot",
            file=filename,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        column = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        raise RecipeError(
            f"the file has a character YAML does not allow ({e.reason})",
            "remove control characters; save the file as UTF-8 text",
            file=filename,
            line=line,
            column=column,
        ) from None
    except yaml.YAMLError as e:
        raise RecipeError(f"YAML error: {e}", file=filename) from None
    except RecursionError:
        raise RecipeError("the YAML is nested too deeply", file=filename) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, positions


# --- validation errors -> positions -------------------------------------------------------


def format_path(path: DataPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _IDENT_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{str(part)!r}]"
    return out


def model_at(root: type[BaseModel], loc: DataPath) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc`, if the path stays inside models."""
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                return None
            tp = info.annotation
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                # A value or a mapping (a fallback's name or an inline model): the mapping's
                # model is the one whose keys matter.
                models = [a for a in map(_unwrap, args) if _is_model(a)]
                return models[0] if len(models) == 1 else tp
            tp = args[0]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def error_path(err: Mapping[str, Any]) -> DataPath:
    """Where in the data a pydantic error is: its `loc` without the tags of a discriminated
    union's members, which schemas write as `<name>`."""
    return tuple(
        p for p in err["loc"] if not (isinstance(p, str) and p.startswith("<") and p.endswith(">"))
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(err: Mapping[str, Any], root: type[BaseModel]) -> tuple[str, str]:
    """A user's words for one pydantic error: (message, hint)."""
    kind, loc = err["type"], error_path(err)
    if kind == "extra_forbidden":
        model = model_at(root, loc[:-1])
        allowed = list(model.model_fields) if model else []
        message = f'unknown key "{loc[-1]}"'
        if allowed:
            message += "; allowed keys: " + ", ".join(allowed)
        import difflib  # ~7 ms to import, needed only here

        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        return message, (f"did you mean `{close[0]}`?" if close else "remove the key")
    if kind == "invalid_key":
        return f"key {loc[-1]!r} must be a string", "quote the key"
    if kind == "missing":
        return f'missing required key "{loc[-1]}"', f"add `{loc[-1]}:` here"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, ") :]
    msg = msg[:1].lower() + msg[1:]
    hint = ""
    if kind.endswith(("_type", "_parsing")):
        value = err.get("input")
        if not isinstance(value, (dict, list)):
            msg += f" (got {_short(value)})"
        if kind == "string_type" and isinstance(value, (dict, list)):
            hint = "write one value here, not a " + (
                "mapping" if isinstance(value, dict) else "list"
            )
        elif kind == "string_type":
            hint = "quote the value: YAML reads bare numbers, yes/no and dates as other types"
    return msg, hint


def validation_to_recipe_error(
    exc: ValidationError,
    positions: Positions,
    filename: str,
    root: type[BaseModel],
    source_path: Callable[[DataPath], DataPath] = lambda p: p,
) -> RecipeError:
    """The first error in file order, placed at its key or value, with every other error in
    its `also` list; `source_path` maps a model path back to where the user wrote it (for
    inputs a validator reshapes)."""
    errors = validation_errors(exc, positions, filename, root, source_path)
    first = errors[0]
    first.also = errors[1:]
    return first


def validation_errors(
    exc: ValidationError,
    positions: Positions,
    filename: str,
    root: type[BaseModel],
    source_path: Callable[[DataPath], DataPath] = lambda p: p,
) -> list[RecipeError]:
    """Every error of a validation, each placed at its key or value, in file order."""
    found: list[tuple[int, int, int, RecipeError]] = []

    def add(path: DataPath, message: str, hint: str, mark: Mark | None) -> None:
        where = format_path(path)
        text = f"{where}: {message}" if where else message
        line, column = (mark.line, mark.column) if mark else (None, None)
        error = RecipeError(text, hint, file=filename, line=line, column=column)
        found.append((line or 0, column or 0, len(found), error))

    for err in exc.errors(include_url=False):
        loc = error_path(err)
        cause = (err.get("ctx") or {}).get("error")
        causes = (
            cause.errors
            if isinstance(cause, FieldErrors)
            else [cause]
            if isinstance(cause, FieldError)
            else []
        )
        for field_error in causes:
            path = source_path(loc + field_error.path)
            mark = positions.key(path) if field_error.at_key else positions.value(path)
            if mark is not None and field_error.inner_line:
                mark = positions.inner_line(mark, field_error.inner_line)
            add(path, field_error.message, field_error.hint, mark)
        if causes:
            continue
        key_error = bool(loc) and loc[-1] == "[key]"
        if key_error:
            loc = loc[:-1]
        path = source_path(loc)
        message, hint = _describe(err, root)
        if key_error:
            message = f'bad key "{loc[-1]}": {message}'
        if err["type"] == "missing":
            path = source_path(loc[:-1])
            mark = positions.key(path)
        elif err["type"] in ("extra_forbidden", "invalid_key") or key_error:
            mark = positions.key(path)
        else:
            mark = positions.value(path)
        add(path, message, hint, mark)
    found.sort(key=lambda item: item[:3])
    return [item[3] for item in found]


def read_text_file(path: Path, kind: str) -> str:
    """A recipe's or policy's text; every way reading it can fail is a RecipeError (exit 2)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        plural = "policies" if kind == "policy" else f"{kind}s"
        raise RecipeError(
            f"{kind} file not found: {path}",
            f"check the path ({plural} usually live in {plural}/*.yaml;"
            " `agentctl init` writes one to start from)",
        ) from None
    except IsADirectoryError:
        raise RecipeError(
            f"{path} is a directory, not a {kind} file", f"pass the {kind}'s .yaml file"
        ) from None
    except OSError as e:
        raise RecipeError(
            f"cannot read {kind} {path}: {e.strerror or e}", "check the file's permissions"
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecipeError(
            f"{path} is not UTF-8 text (byte {e.start})", f"save the {kind} as UTF-8"
        ) from None
