"""The job's vocabulary: job and step states, event types, approval answers, exit codes, and
one frozen dataclass per event type.

The enums are `StrEnum`/`IntEnum`: a member *is* its string or number, so what the store
keeps and what `--json` prints stay byte-identical to the plain strings used before, and old
logs read back as members (`EventType("step_started")`).

Each event type has a frozen dataclass below with a literal `type` tag (inspect_ai's
`event/` is the model), and `JobEvent` is their union: the engine writes events only as these
values, so an event outside the vocabulary, or with a field its type does not have, fails
type checking. The store keeps an event's fields as a JSON object, and a log reads back as
these values, in `agentctl/event_json.py` (`event_data`, `parse_event`).

This module is a leaf: it imports nothing of agentctl. The words for people (one formatter
per event type) live in `agentctl/ui/event_lines.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, Literal, TypeAlias, TypedDict, get_args


class JobState(StrEnum):
    """What `agentctl status` says a job is (the `state` column and `--json` field)."""

    QUEUED = "queued"  # recorded, waiting for a worker to take it (a store with a queue)
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


# A job in one of these states never runs again: no resume, no approval, prunable.
TERMINAL_STATES: frozenset[JobState] = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
)


class StepState(StrEnum):
    """A step's state in the job's `steps` list; a step the job stopped in says how."""

    PENDING = "pending"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


class EventType(StrEnum):
    """The `type` of an event in a job's log."""

    JOB_CREATED = "job_created"
    RUNNER_STARTED = "runner_started"
    STEP_STARTED = "step_started"
    STEP_FINISHED = "step_finished"
    POLICY_ADDED = "policy_added"
    POLICY_APPLIED = "policy_applied"
    LIMITS_CHANGED = "limits_changed"
    WORKSPACE_CLONED = "workspace_cloned"
    WORKSPACE_PUSHED = "workspace_pushed"
    MODEL_RESPONSE = "model_response"
    ACTION_STARTED = "action_started"
    ACTION_FINISHED = "action_finished"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_DECIDED = "approval_decided"
    APPROVAL_USED = "approval_used"
    APPROVAL_EXPIRED = "approval_expired"
    APPROVAL_VOIDED = "approval_voided"
    MCP_SERVER_STARTED = "mcp_server_started"
    MCP_TOOLS_PINNED = "mcp_tools_pinned"
    JOB_PAUSED = "job_paused"
    CANCEL_REQUESTED = "cancel_requested"
    ROLLBACK_STARTED = "rollback_started"
    ROLLBACK = "rollback"
    WARNING = "warning"
    JOB_SUCCEEDED = "job_succeeded"
    JOB_FAILED = "job_failed"
    JOB_CANCELLED = "job_cancelled"
    JOB_INTERRUPTED = "job_interrupted"


# The event that ends a runner's session, and the state the job is left in.
END_EVENTS: Mapping[EventType, JobState] = {
    EventType.JOB_SUCCEEDED: JobState.SUCCEEDED,
    EventType.JOB_FAILED: JobState.FAILED,
    EventType.JOB_CANCELLED: JobState.CANCELLED,
    EventType.JOB_INTERRUPTED: JobState.INTERRUPTED,
    EventType.JOB_PAUSED: JobState.AWAITING_APPROVAL,
}


class ApprovalAnswer(StrEnum):
    """What a person (the prompt, `agentctl approve`/`deny`) answers to a request.

    `DECIDED`: the prompt closed because someone answered from another process meanwhile;
    `APPROVE_ALL`: approve the request and the other pending requests of its model turn.
    """

    APPROVE = "approve"
    DENY = "deny"
    APPROVE_ALL = "approve_all"
    DECIDED = "decided"


class ApprovalState(StrEnum):
    """An approval request's state: `pending` until decided; an approval is used once, or
    expires (the policy's `approvals.expires_after`) and then counts as a deny."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    USED = "used"
    EXPIRED = "expired"
    VOID = "void"  # an added policy denies the action it was for (`agentctl policy add`)


class ExitCode(IntEnum):
    """The process exit codes of `run`, `resume` and `watch` (SPEC)."""

    SUCCEEDED = 0
    FAILED = 1
    USAGE = 2
    AWAITING_APPROVAL = 3
    CANCELLED = 4
    INTERRUPTED = 130


# How a job's state is reported as an exit code. A queued job has not run: its runner
# decides, so it has none here.
EXIT_CODES: Mapping[str, ExitCode] = {
    JobState.SUCCEEDED: ExitCode.SUCCEEDED,
    JobState.FAILED: ExitCode.FAILED,
    JobState.AWAITING_APPROVAL: ExitCode.AWAITING_APPROVAL,
    JobState.CANCELLED: ExitCode.CANCELLED,
    JobState.INTERRUPTED: ExitCode.INTERRUPTED,
}


# -- one frozen dataclass per event type ----------------------------------------------------

# A JSON object whose shape is not the vocabulary's: a tool's arguments, a model's reply, a
# recorded change. The log keeps it as it came.
JsonObject: TypeAlias = dict[str, Any]
# A rule as the log names it: {"policy", "id", "decision", "reason"}.
RuleObject: TypeAlias = dict[str, str]

# A field with this metadata is left out of the stored event while it holds its default, as
# the log always did (`"repeat"` only on a repeated action, `"ahead"` only on a request asked
# ahead). The tag `type` is the event's type; the store keeps it apart from the fields.
OMITTED_WHEN_DEFAULT = "omitted_when_default"
_OMITTED: Mapping[str, bool] = {OMITTED_WHEN_DEFAULT: True}


@dataclass(frozen=True, kw_only=True)
class JobCreated:
    type: Literal[EventType.JOB_CREATED] = EventType.JOB_CREATED
    recipe: str
    recipe_path: str | None
    params: JsonObject
    workspace: str
    steps: list[JsonObject]
    key: str | None = field(default=None, metadata=_OMITTED)  # `run --key`


@dataclass(frozen=True, kw_only=True)
class RunnerStarted:
    type: Literal[EventType.RUNNER_STARTED] = EventType.RUNNER_STARTED
    pid: int
    host: str
    token: int
    resumed: bool
    detached: bool = field(default=False, metadata=_OMITTED)


@dataclass(frozen=True, kw_only=True)
class StepStarted:
    type: Literal[EventType.STEP_STARTED] = EventType.STEP_STARTED
    kind: str


@dataclass(frozen=True, kw_only=True)
class StepFinished:
    type: Literal[EventType.STEP_FINISHED] = EventType.STEP_FINISHED
    state: str
    output: str
    error: str = field(default="", metadata=_OMITTED)


@dataclass(frozen=True, kw_only=True)
class PolicyAdded:
    type: Literal[EventType.POLICY_ADDED] = EventType.POLICY_ADDED
    path: str
    text: str
    by: str


@dataclass(frozen=True, kw_only=True)
class PolicyApplied:
    type: Literal[EventType.POLICY_APPLIED] = EventType.POLICY_APPLIED
    seq: int  # of the policy_added event it applies
    path: str


@dataclass(frozen=True, kw_only=True)
class LimitsChanged:
    type: Literal[EventType.LIMITS_CHANGED] = EventType.LIMITS_CHANGED
    limits: dict[str, float]


@dataclass(frozen=True, kw_only=True)
class WorkspaceCloned:
    type: Literal[EventType.WORKSPACE_CLONED] = EventType.WORKSPACE_CLONED
    url: str
    ref: str | None
    commit: str
    folder: str
    changes_put_back: int


@dataclass(frozen=True, kw_only=True)
class WorkspacePushed:
    type: Literal[EventType.WORKSPACE_PUSHED] = EventType.WORKSPACE_PUSHED
    url: str
    branch: str
    commit: str  # the commit pushed: the job's changes on top of the cloned one
    files: int  # files the job's commit changed (0: the branch names the cloned commit)


@dataclass(frozen=True, kw_only=True)
class ModelResponse:
    type: Literal[EventType.MODEL_RESPONSE] = EventType.MODEL_RESPONSE
    key: str
    reply: JsonObject  # models' Reply.to_dict(): replayed as it is on resume
    wall_ms: int


@dataclass(frozen=True, kw_only=True)
class ActionStarted:
    type: Literal[EventType.ACTION_STARTED] = EventType.ACTION_STARTED
    key: str
    tool: str
    args: JsonObject
    read_only: bool
    decision: str
    rules: list[RuleObject] | None = field(default=None, metadata=_OMITTED)
    approval: str | None = field(default=None, metadata=_OMITTED)  # approved in this request
    repeat: int = field(default=0, metadata=_OMITTED)  # an identical action done again
    host: str | None = field(default=None, metadata=_OMITTED)  # a remote MCP server's


@dataclass(frozen=True, kw_only=True)
class ActionFinished:
    """An action's result (a tool's `ToolResult`), or why it did not run (`refused`), was
    stopped (`stopped_by`) or was undone until a person approves it (`held`)."""

    type: Literal[EventType.ACTION_FINISHED] = EventType.ACTION_FINISHED
    key: str
    tool: str
    ok: bool
    output: str
    exit_code: int | None
    truncated: bool
    error: str | None
    duration_ms: int
    args: JsonObject | None = field(default=None, metadata=_OMITTED)
    refused: bool = field(default=False, metadata=_OMITTED)
    stopped_by: str | None = field(default=None, metadata=_OMITTED)
    confinement: JsonObject | None = field(default=None, metadata=_OMITTED)  # its record
    effects: list[JsonObject] | None = field(default=None, metadata=_OMITTED)
    decision: str | None = field(default=None, metadata=_OMITTED)
    rules: list[RuleObject] | None = field(default=None, metadata=_OMITTED)
    denied_by: str | None = field(default=None, metadata=_OMITTED)
    comment: str | None = field(default=None, metadata=_OMITTED)
    changes: list[JsonObject] | None = field(default=None, metadata=_OMITTED)
    not_undone: list[str] | None = field(default=None, metadata=_OMITTED)
    held: bool = field(default=False, metadata=_OMITTED)
    reason: str | None = field(default=None, metadata=_OMITTED)
    paths: list[str] | None = field(default=None, metadata=_OMITTED)


class ActionFinishedFields(TypedDict, total=False):
    """The optional fields of `ActionFinished`, gathered while an action runs and is checked
    (engine/actions.py), so each name and type is checked where it is set."""

    args: JsonObject
    refused: bool
    stopped_by: str
    confinement: JsonObject
    effects: list[JsonObject]
    decision: str
    rules: list[RuleObject]
    denied_by: str
    comment: str
    changes: list[JsonObject]
    not_undone: list[str]
    held: bool
    reason: str
    paths: list[str]


@dataclass(frozen=True, kw_only=True)
class ApprovalRequested:
    type: Literal[EventType.APPROVAL_REQUESTED] = EventType.APPROVAL_REQUESTED
    request: str
    key: str
    tool: str | None
    args: JsonObject
    action_hash: str
    reason: str
    rules: list[RuleObject]
    # Asked with its model turn, before the actions before it ran.
    ahead: bool = field(default=False, metadata=_OMITTED)


@dataclass(frozen=True, kw_only=True)
class ApprovalDecided:
    type: Literal[EventType.APPROVAL_DECIDED] = EventType.APPROVAL_DECIDED
    request: str
    decision: str
    by: str
    comment: str | None


@dataclass(frozen=True, kw_only=True)
class ApprovalUsed:
    type: Literal[EventType.APPROVAL_USED] = EventType.APPROVAL_USED
    request: str


@dataclass(frozen=True, kw_only=True)
class ApprovalExpired:
    type: Literal[EventType.APPROVAL_EXPIRED] = EventType.APPROVAL_EXPIRED
    request: str


@dataclass(frozen=True, kw_only=True)
class ApprovalVoided:
    """Voided by the runner (`why`: the policy decided the action when its turn came) or by
    `agentctl policy add` (the request's step, tool, args, and the rules that deny it)."""

    type: Literal[EventType.APPROVAL_VOIDED] = EventType.APPROVAL_VOIDED
    request: str
    why: str | None = field(default=None, metadata=_OMITTED)
    step: str | None = field(default=None, metadata=_OMITTED)
    tool: str | None = field(default=None, metadata=_OMITTED)
    args: JsonObject | None = field(default=None, metadata=_OMITTED)
    rules: list[RuleObject] | None = field(default=None, metadata=_OMITTED)
    reason: str | None = field(default=None, metadata=_OMITTED)


@dataclass(frozen=True, kw_only=True)
class McpServerStarted:
    type: Literal[EventType.MCP_SERVER_STARTED] = EventType.MCP_SERVER_STARTED
    server: str
    transport: str
    target: str  # never the headers
    confinement: str | None  # None for a server over HTTP


@dataclass(frozen=True, kw_only=True)
class McpToolsPinned:
    type: Literal[EventType.MCP_TOOLS_PINNED] = EventType.MCP_TOOLS_PINNED
    server: str
    tools: JsonObject
    approval: str | None = field(default=None, metadata=_OMITTED)


@dataclass(frozen=True, kw_only=True)
class JobPaused:
    type: Literal[EventType.JOB_PAUSED] = EventType.JOB_PAUSED
    requests: list[str]


@dataclass(frozen=True, kw_only=True)
class CancelRequested:
    type: Literal[EventType.CANCEL_REQUESTED] = EventType.CANCEL_REQUESTED
    by: str


@dataclass(frozen=True, kw_only=True)
class RollbackStarted:
    type: Literal[EventType.ROLLBACK_STARTED] = EventType.ROLLBACK_STARTED
    to_step: str | None
    paths: list[str]
    forced: bool


@dataclass(frozen=True, kw_only=True)
class Rollback:
    type: Literal[EventType.ROLLBACK] = EventType.ROLLBACK
    to_step: str | None
    restored: list[str]
    removed: list[str]
    conflicts: list[JsonObject]  # {"path", "reason"}
    skipped_too_large: list[str]
    unchanged: list[str]
    changes: list[str]  # ids of the changes rolled back
    forced: bool


@dataclass(frozen=True, kw_only=True)
class JobWarning:
    type: Literal[EventType.WARNING] = EventType.WARNING
    message: str


@dataclass(frozen=True, kw_only=True)
class JobSucceeded:
    type: Literal[EventType.JOB_SUCCEEDED] = EventType.JOB_SUCCEEDED


@dataclass(frozen=True, kw_only=True)
class JobFailed:
    type: Literal[EventType.JOB_FAILED] = EventType.JOB_FAILED
    error: dict[str, str]  # {"type", "message"}


@dataclass(frozen=True, kw_only=True)
class JobCancelled:
    type: Literal[EventType.JOB_CANCELLED] = EventType.JOB_CANCELLED
    by: str


@dataclass(frozen=True, kw_only=True)
class JobInterrupted:
    type: Literal[EventType.JOB_INTERRUPTED] = EventType.JOB_INTERRUPTED
    reason: str


JobEvent: TypeAlias = (
    JobCreated
    | RunnerStarted
    | StepStarted
    | StepFinished
    | PolicyAdded
    | PolicyApplied
    | LimitsChanged
    | WorkspaceCloned
    | WorkspacePushed
    | ModelResponse
    | ActionStarted
    | ActionFinished
    | ApprovalRequested
    | ApprovalDecided
    | ApprovalUsed
    | ApprovalExpired
    | ApprovalVoided
    | McpServerStarted
    | McpToolsPinned
    | JobPaused
    | CancelRequested
    | RollbackStarted
    | Rollback
    | JobWarning
    | JobSucceeded
    | JobFailed
    | JobCancelled
    | JobInterrupted
)

# The dataclass of each event type, by its tag.
EVENT_CLASSES: Mapping[str, type[JobEvent]] = {cls.type: cls for cls in get_args(JobEvent)}
