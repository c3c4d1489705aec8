"""Policies: the schema and decisions (rules), matching an action (match), shell words and wrappers."""
