"""The errors a user can cause or meet, each with a hint and an exit code.

The CLI's single error boundary turns an AgentctlError into an `error:` and a `hint:` line on
stderr and exits with `exit_code`. Nothing else in the package prints or exits.
"""

from __future__ import annotations


class AgentctlError(Exception):
    """Something went wrong that the user can act on."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(AgentctlError):
    """Bad input: a flag, a param, a job id (exit 2)."""

    exit_code = 2


class RecipeError(UsageError):
    """An invalid recipe or policy file; names file:line:column where there is one."""

    def __init__(
        self,
        message: str,
        hint: str = "",
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ):
        self.file, self.line, self.column = file, line, column
        where = ""
        if file:
            where = file
            if line is not None:
                where += f":{line}"
                if column is not None:
                    where += f":{column}"
            where += ": "
        super().__init__(where + message, hint or "fix the file, then run `agentctl validate FILE`")
        self.detail = message
        # The file's other problems, in file order (`agentctl validate` reports them all).
        self.also: list[RecipeError] = []


class JobNotFound(UsageError):
    """No job matches the id, prefix or `last`."""


class JobBusy(UsageError):
    """Another live runner holds the job's lease."""


class WorkspaceBusy(UsageError):
    """Another job's live runner holds the workspace (one job per workspace)."""


class LeaseLost(AgentctlError):
    """This runner's lease was taken over; its writes are refused (fencing)."""

    exit_code = 1


class ToolError(AgentctlError):
    """A tool could not run as asked (bad arguments, path outside the workspace); `code` is
    the short reason the model's ToolResult shows (`bad_args`, `outside_workspace`...)."""

    def __init__(self, message: str, code: str = "tool_error"):
        super().__init__(message)
        self.code = code


def suggest(word: str, choices: object) -> str:
    """A hint naming the closest of `choices` to a mistyped `word`, or "" when none is close."""
    import difflib  # ~7 ms to import: only on the way to an error

    names = [str(c) for c in choices] if isinstance(choices, (list, tuple, set, dict)) else []
    close = difflib.get_close_matches(word, names, n=1)
    return f"did you mean `{close[0]}`?" if close else ""
