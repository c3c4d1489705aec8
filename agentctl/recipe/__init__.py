"""Recipes: the schema and loading (schema), and Jinja templates (templates)."""
