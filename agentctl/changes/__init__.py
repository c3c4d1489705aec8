"""Change recording (record), reading changes back for diff and rollback (history)."""
