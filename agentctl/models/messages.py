"""The JSON shapes a model call passes around, named: an OpenAI-format chat message
({"role", "content", "tool_calls"?, ...}), a tool's schema as offered to the model
({"type": "function", "function": {...}}), and one failed try ({"model", "error", "reason"}).
Their values vary by key, so they stay dicts; the names say which document is meant."""

from __future__ import annotations

from typing import Any

Message = dict[str, Any]
ToolSchema = dict[str, Any]
Attempt = dict[str, str]
