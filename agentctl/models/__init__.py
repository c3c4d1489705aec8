"""Language models: litellm calls (calls), roles, and record/replay cassettes."""
