"""The words an editor shows for every key of a recipe and a policy, and examples of values.

One table, keyed `Model.field` (the pydantic class that validates the mapping, and the key),
read by `agentctl.schemas` when it writes the JSON Schemas; `tests/test_schemas.py` fails for
a key without a description, so a new field arrives with its words.
"""

from __future__ import annotations

from typing import Any

DESCRIPTIONS: dict[str, str] = {
    # -- recipe ------------------------------------------------------------------------
    "Recipe.version": "The recipe format's version; always 1.",
    "Recipe.name": "The recipe's name, shown in `agentctl jobs` and the log.",
    "Recipe.description": "What the recipe does, for people reading it.",
    "Recipe.params": "Typed inputs, given on the command line as `-p KEY=VALUE` and used in "
    "templates as {{ params.KEY }}.",
    "Recipe.models": "Named model roles; an agent step picks one by name (`default` if it "
    "names none).",
    "Recipe.policy": "A policy file, relative to this recipe; every `--policy` is added on "
    "top and the strictest decision wins.",
    "Recipe.limits": "Limits for the whole job; a policy's limits may tighten them.",
    "Recipe.env": "Environment variable names templates may read as {{ env.NAME }}; their "
    "values are masked everywhere.",
    "Recipe.tools": "Custom tools (name: {command: ...}) beside the built-ins. In a recipe "
    "without steps:, a list of tool names is the agent's tool list instead.",
    "Recipe.mcp": "MCP servers; their tools are named SERVER.TOOL in tool lists and policies.",
    "Recipe.steps": "The job's steps, run in order; each sets exactly one of run, agent, approval.",
    "Recipe.changes": "How file changes are recorded for `diff` and `rollback`.",
    "Recipe.workspace": "Where the job works when --workspace is not given: {git: URL, ref: "
    "REV} clones the repository for each job on the machine that runs it (no shared disk "
    "between workers); `agentctl apply JOB` lands the change where you are.",
    "WorkspaceSource.git": "The repository to clone (a URL, or a path on the machine).",
    "WorkspaceSource.ref": "A branch, tag or commit (the default branch when left out).",
    "WorkspaceSource.push": "A branch to push the job's committed changes to when it succeeds "
    "(never forced; the job fails with error type push if the source refuses).",
    "Recipe.on_failure": "`rollback` undoes the job's file changes when it fails.",
    "Recipe.instructions": "One-agent form (no steps:): the agent's instructions.",
    "Recipe.prompt": "One-agent form: the first user message (else the instructions alone).",
    "Recipe.model": "One-agent form: the model role to use.",
    "Recipe.agent_tools": "One-agent form: the tools the agent may call (also written as a "
    "top-level tools: list).",
    "ParamSpec.type": "The value's type; `-p` text is converted to it.",
    "ParamSpec.required": "Whether `-p KEY=VALUE` must be given.",
    "ParamSpec.default": "The value when `-p` does not give one.",
    "ParamSpec.description": "What the param means (shown when one is missing).",
    "ModelRole.model": "A litellm model string, e.g. openai/gpt-4.1-mini or "
    "anthropic/claude-sonnet-4-5.",
    "ModelRole.path": "A GGUF model file (relative to the recipe's folder), run on this "
    "machine as local/PATH; instead of model:.",
    "ModelRole.local": "The local model server's threads, context tokens and parallel slots "
    "(chosen for the machine when left out).",
    "ModelRole.tool_calls": "`text`: tool calls the model writes as text (a <tool_call> block "
    "or JSON naming an offered tool) become real calls; the default for local/ models.",
    "ModelRole.tool_results": "`user`: tool results go back as user messages, for models whose "
    "chat template ignores the tool role.",
    "LocalServerOptions.threads": "CPU threads the local server uses.",
    "LocalServerOptions.context": "Context tokens per request.",
    "LocalServerOptions.parallel": "Requests the local server answers at once.",
    "ModelRole.fallbacks": "Models tried, in order, when this one fails (rate limit, server "
    "error, timeout) or is over budget: a role name, a model string, or an inline "
    "{model, api_base, api_key_env}.",
    "ModelRole.temperature": "Sampling temperature; 0 for the most repeatable answers.",
    "ModelRole.max_tokens": "The longest reply asked for, in tokens.",
    "ModelRole.api_base": "The endpoint of an OpenAI-compatible server (Ollama, llama.cpp, "
    "a proxy), e.g. http://127.0.0.1:8080/v1.",
    "ModelRole.api_key_env": "The environment variable that holds this role's API key.",
    "ModelRole.options": "Extra keyword arguments passed to litellm.completion as they are.",
    "ModelRole.input_cost_per_token": "Price of one input token in USD, for models litellm "
    "has no price for.",
    "ModelRole.output_cost_per_token": "Price of one output token in USD.",
    "ModelRole.max_cost_usd": "A budget for this role's calls in USD, beside the job's; each "
    "call's max_tokens is capped to fit the smaller of the two.",
    "ModelRole.timeout": "The longest one request may take (default 120s); the job's "
    "limits.timeout cuts it shorter.",
    "ModelRole.cooldown": "How long a model that failed (connection, timeout, 5xx, 429) is "
    "passed over for its fallbacks (default 60s).",
    "FallbackModel.model": "The fallback's litellm model string.",
    "FallbackModel.api_base": "The fallback's own endpoint (unset: the provider's).",
    "FallbackModel.api_key_env": "The environment variable that holds the fallback's key "
    "(unset: the provider's usual one; never the asking role's).",
    "RecipeLimits.max_turns": "Model turns in the whole job.",
    "RecipeLimits.max_cost_usd": "Money the job may spend on model calls, in USD.",
    "RecipeLimits.max_tool_calls": "Tool calls in the whole job.",
    "RecipeLimits.max_repeats": "Identical actions allowed in one step (default 3).",
    "RecipeLimits.timeout": "The job's wall clock, a model call in flight included.",
    "CustomTool.description": "What the tool does, as the model reads it.",
    "CustomTool.command": "The command; {name} placeholders take the tool's arguments, "
    "shell-quoted.",
    "CustomTool.params": "The tool's arguments, each with a type (and a default).",
    "CustomTool.read_only": "The command changes nothing: no snapshot around it, and it may "
    "run again after a crash without asking.",
    "CustomTool.idempotent": "Running the command twice does no more than once: a job taken "
    "over after a crash runs it again without asking.",
    "CustomTool.timeout": "How long one call may take (else the policy's tool_timeout).",
    "McpServer.command": "A stdio server's command (a string or a list of words).",
    "McpServer.env": "Environment variable names passed to the server (and usable in "
    "headers as {{ env.NAME }}).",
    "McpServer.url": "A streamable HTTP server's URL.",
    "McpServer.headers": "HTTP headers for a url: server; values may use {{ env.NAME }}.",
    "McpServer.timeout": "How long starting the server and one call may take.",
    "McpServer.read_only": "Tool names (globs) trusted to change nothing.",
    "Step.id": "The step's id; later templates read its output as steps.ID.output.",
    "Step.run": "A shell command step; its output is steps.ID.output.",
    "Step.agent": "A model/tool loop.",
    "Step.approval": "A human gate: the question asked before the job goes on.",
    "Step.check": "A command run after the agent step; the loop is re-entered until it passes.",
    "Step.timeout": "How long this step may take.",
    "Step.idempotent": "A run: step whose second run does no more than its first: a job taken "
    "over after a crash runs it again without asking.",
    "AgentSpec.model": "The model role (a key of models:).",
    "AgentSpec.instructions": "The agent's instructions (a template).",
    "AgentSpec.prompt": "The first user message (a template).",
    "AgentSpec.tools": "The tools the agent may call (built-ins, custom tools, SERVER.TOOL); "
    "all built-ins and custom tools when left out.",
    "AgentSpec.max_turns": "Model turns in this step.",
    "AgentSpec.max_tool_calls": "Tool calls in this step.",
    "CheckSpec.run": "The check command (a template); exit 0 means the step is done.",
    "CheckSpec.attempts": "How many times the agent may try before the step fails.",
    "ChangesSpec.exclude": "Globs (as in .gitignore) never snapshotted.",
    "ChangesSpec.max_file_size": "Larger files are named as changed, not kept.",
    "ChangesSpec.gitignore": "Skip what the workspace's .gitignore files ignore.",
    # -- policy ------------------------------------------------------------------------
    "Policy.version": "The policy format's version; always 1.",
    "Policy.name": "The policy's name, shown with each rule that votes.",
    "Policy.description": "What the policy is for.",
    "Policy.default": "The decision when no rule matches an action.",
    "Policy.rules": "Every rule that matches an action votes; deny beats ask beats allow.",
    "Policy.limits": "Limits this policy puts on any job it governs (the smallest wins).",
    "Policy.sandbox": "OS confinement of shell tools: required refuses to run them "
    "unconfined, preferred asks for each when confinement is not available.",
    "Policy.network": "Whether confined shell tools may reach the network.",
    "Policy.redact": "Extra regular expressions masked everywhere.",
    "Policy.read_only": "Tool names (globs) trusted to change nothing.",
    "Policy.approvals": "How approvals behave.",
    "Policy.tests": "Actions and their expected decisions, checked by `agentctl validate`.",
    "Rule.id": "The rule's id, shown when it votes.",
    "Rule.tools": "Tool names (globs) the rule applies to.",
    "Rule.paths": "Path globs, against the workspace (symlinks resolved).",
    "Rule.commands": "Shell commands by their parsed words; a trailing * matches any further "
    "arguments.",
    "Rule.hosts": "Host globs for http_get and the like.",
    "Rule.decision": "What the rule votes.",
    "Rule.reason": "Why, shown to the person asked and to the model when it is denied.",
    "PolicyLimits.max_cost_usd": "Money a job may spend on model calls, in USD.",
    "PolicyLimits.max_turns": "Model turns in a job.",
    "PolicyLimits.max_tool_calls": "Tool calls in a job.",
    "PolicyLimits.max_repeats": "Identical actions allowed in one step.",
    "PolicyLimits.timeout": "A job's wall clock.",
    "PolicyLimits.tool_timeout": "How long one tool call may take.",
    "ApprovalSettings.expires_after": "A pending approval older than this is expired (denied).",
    "PolicyTest.tool": "The tool of the action.",
    "PolicyTest.args": "The action's arguments.",
    "PolicyTest.expect": "The decision the policy must give.",
    "PolicyTest.workspace_files": "Files (path: content, or path: {symlink: target}) made "
    "in the test's workspace first.",
    "Symlink.symlink": "Where the symlink points.",
}

EXAMPLES: dict[str, list[Any]] = {
    "Recipe.name": ["fix-failing-test"],
    "Recipe.policy": ["../policies/ci-safe.yaml"],
    "Recipe.env": [["GITHUB_TOKEN"]],
    "Recipe.limits": [{"max_turns": 40, "max_cost_usd": 2.0, "timeout": "30m"}],
    "ModelRole.model": ["openai/gpt-4.1-mini", "anthropic/claude-sonnet-4-5"],
    "ModelRole.api_base": ["http://127.0.0.1:8080/v1"],
    "ModelRole.fallbacks": [["anthropic/claude-sonnet-4-5"]],
    "RecipeLimits.timeout": ["30m"],
    "CustomTool.command": ["pytest -x {path}"],
    "McpServer.command": ["uvx mcp-server-git", ["python", "-m", "mcp_server_git"]],
    "Step.run": ["git log -5 --oneline"],
    "Step.approval": ["Commit the fix?"],
    "CheckSpec.run": ["pytest -x {{ params.test }}"],
    "AgentSpec.tools": [["read_file", "edit_file", "list_files", "shell"]],
    "Rule.tools": [["shell"], ["write_file", "edit_file"]],
    "Rule.paths": [["src/**", "tests/**"], ["**/.env*"]],
    "Rule.commands": [["git status", "git diff *", "pytest *"]],
    "Rule.hosts": [["api.github.com", "*.python.org"]],
    "Policy.redact": [["sk-[A-Za-z0-9_-]{16,}"]],
    "PolicyLimits.tool_timeout": ["10m"],
}


def describe_properties(schema: dict[str, Any], root: str) -> None:
    """Write the descriptions and examples into a pydantic-made JSON Schema, in place: the
    root's properties and every model's under `$defs` (keyed by the class name)."""
    models = {root: schema, **schema.get("$defs", {})}
    for model, node in models.items():
        for name, spec in node.get("properties", {}).items():
            key = f"{model}.{name}"
            if key in DESCRIPTIONS:
                unit = spec.get("description")  # a duration's or size's forms
                spec["description"] = DESCRIPTIONS[key] + (f" In {unit}." if unit else "")
            if key in EXAMPLES:
                spec["examples"] = EXAMPLES[key]
