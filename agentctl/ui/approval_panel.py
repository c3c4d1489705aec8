"""An approval request as a panel: the reason, the whole action shown once (a shell command
never cut; control, ANSI and bidi characters as escapes; a run of blank lines as one line
saying how many), the rules that asked, a file write as its diff against the workspace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from agentctl.times import human_time
from agentctl.ui.words import rules_words
from agentctl.visible import make_visible

# A file bigger than this is not read for a preview.
PREVIEW_MAX_BYTES = 1_000_000


# -- what the prompt shows -----------------------------------------------------------------


def visible_text(text: Any, style: str = "") -> Text:
    return Text(make_visible(str(text)), style=style)


def compact_blank_runs(text: str) -> Text:
    """`text` shown whole, except that a run of two or more blank lines becomes one dim line
    saying how many there were: blank lines must not push the start of an action out of
    sight (`curl ... | sh`, sixty newlines, `git status`)."""
    out = Text()
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j - i >= 2:
            if out:
                out.append("\n")
            out.append(f"⋯ ({j - i} blank lines hidden)", style="dim")
            i = j
            continue
        if i:
            out.append("\n")
        out.append_text(visible_text(lines[i]))
        i += 1
    return out


def _read_workspace_file(workspace: Path | None, path: str) -> str | None:
    """The current text of a workspace file, or None (missing, outside, binary, too big)."""
    if workspace is None:
        return None
    try:
        root = workspace.resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return None
        st = target.stat()
        if st.st_size > PREVIEW_MAX_BYTES or st.st_nlink > 1:  # another name may be outside
            return None
        return target.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def diff_preview(tool: str | None, args: dict[str, Any], workspace: Path | None) -> list[str]:
    """Unified diff lines of what a write_file/edit_file would do; [] for other tools."""
    from agentctl.tools.builtin import action_writes

    path = args.get("path")
    if not isinstance(path, str) or not action_writes(tool):
        return []
    current = _read_workspace_file(workspace, path)
    if isinstance(args.get("content"), str):  # write_file: the whole new content
        before, after = current or "", args["content"]
        label = path if current is not None else "/dev/null"
    elif isinstance(args.get("old"), str) and isinstance(args.get("new"), str):  # edit_file
        old, new = args["old"], args["new"]
        if current is not None and current.count(old) == 1:
            before, after = current, current.replace(old, new, 1)
        else:  # the edit as given; the tool itself will say whether `old` matches
            before, after = old, new
        label = path
    else:
        return []
    if len(before) + len(after) > PREVIEW_MAX_BYTES:  # difflib is slow on huge texts
        return []
    import difflib  # ~7 ms to import, needed only here

    return list(
        difflib.unified_diff(
            before.splitlines(),
            after.splitlines(),
            fromfile=f"a/{label}" if label != "/dev/null" else label,
            tofile=f"b/{path}",
            lineterm="",
        )
    )


def _render_diff(lines: list[str]) -> Text:
    out = Text()
    for number, line in enumerate(lines):
        if number:
            out.append("\n")
        style = (
            "bold"
            if line.startswith(("+++", "---"))
            else "green"
            if line.startswith("+")
            else "red"
            if line.startswith("-")
            else "cyan"
            if line.startswith("@@")
            else ""
        )
        out.append_text(visible_text(line, style))
    return out


def render_approval(
    request: dict[str, Any], *, workspace: Path | None = None, details: bool = False
) -> RenderableType:
    """The approval request as a panel: reason, the full action, rules, a diff preview."""
    from agentctl.tools.builtin import action_command  # the tools load only for a prompt

    tool = request.get("tool")
    args = request.get("args") or {}
    parts: list[RenderableType] = [visible_text(request.get("reason", ""), "bold")]
    diff = diff_preview(tool, args, workspace)
    if tool is None and isinstance(args.get("diff"), str) and "server" in args:
        # An MCP server's tools changed since the job pinned them: show how.
        parts.append(
            visible_text(f"changed tool definitions of MCP server {args['server']}", "dim")
        )
        diff = args["diff"].splitlines()
    elif tool is None:
        parts.append(Text(f"a human gate of step {request.get('step')}", style="dim"))
    elif (line := action_command(tool, args)) is not None:
        command = Text("$ ", style="bold")
        command.append_text(compact_blank_runs(line))  # wrapped, never cut
        parts += [Text("shell command:", style="dim"), command]
    else:
        parts.append(Text.assemble(("tool ", "dim"), visible_text(tool, "bold")))
        diff_keys = ("content", "old", "new") if diff else ()
        for key, value in args.items():
            if key not in diff_keys:  # those are shown as the diff below, once
                shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                parts.append(Text.assemble((f"{key}: ", "dim"), compact_blank_runs(shown)))
    rules = request.get("rules") or []
    if rules:
        said = rules_words(rules, reasons=True)
        parts.append(Text.assemble(("asked by: ", "dim"), visible_text(said, "yellow")))
    elif tool is not None and not str(request.get("reason", "")).startswith("uncertain"):
        parts.append(Text("asked by: the policy's default (no rule matched)", style="dim"))
    if diff:
        parts.append(_render_diff(diff))
    if details:  # the request's own facts; the action itself is shown above, once
        for name in ("request", "step", "key", "action_hash", "created_at"):
            if request.get(name) is not None:
                value = human_time(request[name]) if name == "created_at" else request[name]
                parts.append(Text.assemble((f"{name}: ", "dim"), visible_text(value, "dim")))
    title = Text(f" approval {request.get('request')} · step ", style="yellow bold")
    title.append_text(visible_text(request.get("step") or "-", "yellow bold"))
    title.append(" ")
    return Panel(Group(*parts), title=title, title_align="left", border_style="yellow")
