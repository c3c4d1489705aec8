"""Policies: the schema and decisions (rules), matching an action (match), shell words and
wrappers, and the path-glob dialect (globs) that change recording shares."""
