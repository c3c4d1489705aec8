"""`python -m agentctl` and the `agentctl` command: a queue-only `run` is recorded by
`agentctl.quick` without loading the command line's libraries; everything else is the
typer app's (`agentctl.cli.main`)."""

from __future__ import annotations

import sys


def main() -> None:
    from agentctl.quick.enqueue import enqueue_from_argv

    code = enqueue_from_argv(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from agentctl.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
