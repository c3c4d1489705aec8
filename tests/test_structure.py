"""The package's shape, checked: no module over 500 lines, and imports that form layers.

The layers, from the top: the command line (and the client library) → the terminal UI →
the engine → policy, tools and recipes → changes, processes, models and the store → leaves
(the vocabulary in `events`, errors, units, paths ...). A module may import its own layer or
any layer below; never one above, not even inside a function, and never around a circle.
Imports under `TYPE_CHECKING` are for the type checker only and are not counted.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import agentctl

PACKAGE = Path(agentctl.__file__).parent
MAX_LINES = 500

# Rank of each name under agentctl (the longest dotted prefix that is listed wins); a module
# may import only ranks <= its own.
LAYERS: dict[str, int] = {
    "cli": 5,
    "client": 5,
    "__main__": 5,
    "quick": 5,  # `run --queue` without the typer app (agentctl/quick/)
    "schemas": 5,
    "ui": 4,
    "engine": 3,
    "policy": 2,
    "tools": 2,
    "recipe": 2,
    "changes": 1,
    "process": 1,
    "models": 1,
    "store": 1,
    "redact": 1,
    "telemetry": 1,
    # Leaves that live beside their subject: they import nothing of agentctl, so the store,
    # the change scan and telemetry may use the decision words, globs and protected names.
    "policy.votes": 0,
    "policy.globs": 0,
    "policy.protected": 0,
}
LEAF = 0  # every other module: events, errors, units, times, paths, yamlload ...


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    name = ".".join(parts)
    return name.removesuffix(".__init__")


def _rank(module: str) -> int:
    parts = module.split(".")[1:]
    for end in range(len(parts), 0, -1):
        rank = LAYERS.get(".".join(parts[:end]))
        if rank is not None:
            return rank
    return LEAF


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return inside


def _imports(path: Path, module: str) -> Iterator[str]:
    """Every agentctl module `module` imports at run time (any depth, any scope)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("agentctl"):
                yield target
                yield from (f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("agentctl"))


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        module: {t for t in _imports(path, module) if t in files and t != module}
        for module, path in files.items()
    }


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_is_over_500_lines() -> None:
    sizes = {
        str(p.relative_to(PACKAGE.parent)): p.read_text(encoding="utf-8").count("\n")
        for p in PACKAGE.rglob("*.py")
    }
    too_long = [f"{name}: {n} lines" for name, n in sorted(sizes.items()) if n > MAX_LINES]
    assert not too_long, "\n".join(too_long)


def test_imports_never_go_up_a_layer() -> None:
    upward = sorted(
        f"{module} (layer {_rank(module)}) imports {target} (layer {_rank(target)})"
        for module, targets in _graph().items()
        for target in targets
        if _rank(target) > _rank(module)
    )
    assert not upward, "\n".join(upward)


def test_imports_form_no_circle() -> None:
    circles = [" -> ".join(c) for c in _circles(_graph())]
    assert not circles, "\n".join(circles)


def test_the_checks_see_a_circle_and_an_upward_import() -> None:
    """The checks above can fail: a made-up graph with both faults is caught."""
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    assert _rank("agentctl.events") < _rank("agentctl.store.base") < _rank("agentctl.engine.x")
    assert _rank("agentctl.policy.votes") == LEAF < _rank("agentctl.policy.rules")
    assert "agentctl.cli" in _graph()["agentctl.__main__"]
