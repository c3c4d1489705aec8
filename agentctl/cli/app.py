"""The typer app and its single error boundary.

Every failure a user can cause arrives here as an AgentctlError (or a usage error from the
argument parser) and leaves as one `error:` line and one `hint:` line on stderr with the
documented exit code. A traceback is shown only with `--debug`. The command modules add
their commands to `app`; agentctl/cli/__init__.py imports them all.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from agentctl.errors import AgentctlError


def _write_error(message: str, hint: str) -> None:
    try:
        sys.stderr.write(f"error: {message}\n")
        if hint:
            sys.stderr.write(f"hint: {hint}\n")
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # nobody reads stderr (`2>&1 | head -0`)
        _drop_output()


# How `agentctl --help` lists commands: the way a person meets them, not the file order.
COMMAND_ORDER = (
    "init",
    "run",
    "resume",
    "jobs",
    "status",
    "watch",
    "log",
    "approve",
    "deny",
    "cancel",
    "diff",
    "rollback",
    "apply",
    "validate",
    "doctor",
    "models",
    "policy",
    "prune",
    "schema",
    "completion",
    "worker",
    "queue",
)


class _OutputClosed(Exception):
    """The reader of stdout or stderr went away (`agentctl log JOB | head -1`)."""


def _drop_output() -> None:
    """Send what is still buffered for stdout and stderr to /dev/null, so neither a later
    write nor the flush at exit fails, and nothing more is said."""
    from agentctl.ui.plain import silence

    silence(sys.stdout)
    silence(sys.stderr)


class _Boundary(TyperGroup):
    """Maps every error to `error:`/`hint:` and an exit code, for the CLI and CliRunner.

    A closed output pipe ends the command at once, as `git log | head -1` stops, quietly and
    with exit 0: the reader chose to read no further, and nothing about a job changes for it.
    Not 141 (the shell's code for git's death by SIGPIPE): SPEC's exit codes have no 141, and
    `set -o pipefail` would fail on it; not 1, which says a job failed. `run` and `watch`
    catch it themselves and exit with the job's code.
    """

    def invoke(self, ctx: Any) -> Any:
        # Click would turn a broken pipe into a silent exit 1; take it before it does.
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise _OutputClosed() from None

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        argv = _optional_values(list(sys.argv[1:] if args is None else args))
        debug = "--debug" in argv
        from agentctl.cli.completion import COMPLETE_VAR, enable_if_asked

        enable_if_asked()
        code = 0
        try:
            result = super().main(
                args=argv,
                prog_name=prog_name or "agentctl",
                complete_var=complete_var or COMPLETE_VAR,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
            code = result if isinstance(result, int) else 0
            sys.stdout.flush()  # here, not at exit, where a closed pipe would be reported
        except (_OutputClosed, BrokenPipeError):
            # The reader went away: during the command (exit 0), or at the last flush, when
            # the command had done all it was asked (its own code stands).
            _drop_output()
        except AgentctlError as error:
            if debug:
                traceback.print_exc()
            _write_error(error.message, error.hint)
            code = error.exit_code
        except KeyboardInterrupt:
            code = 130
        except Exception as error:
            code = _report_unexpected(error, argv, debug)
        if standalone_mode:
            sys.exit(code)
        return code


# Options whose value may be left out (`run RECIPE --queue`): typer's bundled parser has no
# such options, so a bare one is given its default here, before parsing.
OPTIONAL_VALUES = {"--queue": "default"}


def _optional_values(argv: list[str]) -> list[str]:
    if "--" in argv:
        head, tail = argv[: argv.index("--")], argv[argv.index("--") :]
        return _optional_values(head) + tail
    out = []
    for i, arg in enumerate(argv):
        following = argv[i + 1] if i + 1 < len(argv) else None
        if arg in OPTIONAL_VALUES and (following is None or following.startswith("-")):
            arg = f"{arg}={OPTIONAL_VALUES[arg]}"
        out.append(arg)
    return out


def _report_unexpected(error: Exception, argv: list[str], debug: bool) -> int:
    # The parser's own errors (unknown flag, missing argument) carry an exit code and a message.
    format_message = getattr(error, "format_message", None)
    exit_code = getattr(error, "exit_code", None)
    if type(error).__name__ == "Abort":
        return 130
    if callable(format_message) and isinstance(exit_code, int):
        # The parser's context knows which command it was parsing (never a `--db` value).
        ctx = getattr(error, "ctx", None)
        command = getattr(ctx, "command_path", None) or "agentctl"
        if type(error).__name__ == "NoArgsIsHelpError":
            # The help is already shown. Bare `agentctl` asked for nothing else; a group
            # without its command (`agentctl policy`) says which ones there are.
            if ctx is None or ctx.parent is None:
                return 0
            names = ", ".join(ctx.command.list_commands(ctx))
            _write_error(f"`{command}` needs a command", f"one of: {names}")
            return 2
        _write_error(format_message(), f"see `{command} --help`")
        return 2 if exit_code in (1, 2) else exit_code
    if debug:
        traceback.print_exc()
    _write_error(
        f"internal error: {type(error).__name__}: {error}",
        "run again with --debug for the traceback, and report it",
    )
    return 1


app = typer.Typer(
    cls=_Boundary,
    name="agentctl",
    help="Run AI agents as durable, resumable, audited jobs from YAML recipes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from agentctl import DISTRIBUTION, installed_version

        print(f"agentctl {installed_version()} ({DISTRIBUTION})")
        raise typer.Exit(0)


# Commands that import litellm (through models.calls, which ends start-up's collector settings).
LOADS_LITELLM = frozenset({"run", "resume", "worker-run"})


def tolerate_surrogates() -> None:
    """A file name that is not UTF-8 holds lone surrogates (surrogateescape); one that reaches
    stdout or stderr unescaped is written as `\\udcNN` instead of ending the command in a
    UnicodeEncodeError. Inside a JSON string that is JSON's own escape, which a reader turns
    back into the same name (`os.fsencode` gives its bytes); people's views escape names first
    (`visible.make_visible`: `\\xNN`)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            pass  # not a text stream of ours (a test's capture, say): left as it is


@app.callback()
def _global(
    ctx: typer.Context,
    db: str = typer.Option(
        None,
        "--db",
        help="The job database (else $AGENTCTL_DB, else the user data dir).",
        envvar="AGENTCTL_DB",
        show_envvar=False,
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the installed version and exit.",
        is_eager=True,
        callback=_print_version,
    ),
) -> None:
    """Run AI agents as durable, resumable, audited jobs from YAML recipes.

    Start with `agentctl run RECIPE`; follow with `agentctl jobs`, `status`, `log`, `resume`.
    """
    from agentctl.cli.options import GLOBAL

    GLOBAL.db = db
    GLOBAL.debug = debug
    tolerate_surrogates()
    if ctx.invoked_subcommand not in LOADS_LITELLM:
        from agentctl import gc_tuning

        gc_tuning.loaded()  # its modules are in; the model commands say so once litellm is
