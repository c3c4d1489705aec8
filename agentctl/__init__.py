"""agentctl: run AI agents as durable, resumable, audited jobs."""

__version__ = "0.1.0"
