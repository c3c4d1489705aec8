"""The tools an agent can call: the registry (`registry`), the built-in tools (`builtin`, each
in its own module: `files`, `shell`, `http`, `interactive`) and a recipe's custom command
tools (`custom`). `registry.build_toolbox` is what the engine uses: it returns the named
tools, each with a `spec` the model sees and a `run(args, ctx)` that returns a ToolResult
and never raises for a failure the model caused.
"""
