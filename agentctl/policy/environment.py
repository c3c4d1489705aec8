"""Environment variables as code: which hold a command some program runs (`GIT_SSH_COMMAND`,
`PAGER`, `LESSOPEN`), which make programs load code the parser cannot see (`LD_PRELOAD`,
`PATH`, `BASH_ENV`), and which are known to be harmless (`CI`, `NODE_ENV`, `LANG`).
`analyse_assignment` decides `NAME=value` before a command, alone, or after export/env.
"""

from __future__ import annotations

import re

from agentctl.policy.inner import HOLE, Analysis, Inner, code_source

# Variables whose value is a command line some program runs.
COMMAND_ENV = frozenset(
    [
        "GIT_SSH_COMMAND",
        "GIT_SSH",
        "GIT_PAGER",
        "GIT_EDITOR",
        "GIT_EXTERNAL_DIFF",
        "GIT_ASKPASS",
        "GIT_SEQUENCE_EDITOR",
        "GIT_PROXY_COMMAND",
        "PAGER",
        "MANPAGER",
        "SYSTEMD_PAGER",
        "EDITOR",
        "VISUAL",
        "SUDO_ASKPASS",
        "SSH_ASKPASS",
        "BROWSER",
        "LESSOPEN",
        "LESSCLOSE",
        "PROMPT_COMMAND",
        "RSYNC_RSH",
        "CVS_RSH",
        "FCEDIT",
    ]
)
# Variables that make programs load code or configuration the parser cannot see.
UNKNOWN_CODE_ENV = re.compile(
    r"^(LD_\w+|DYLD_\w+|BASH_ENV|ENV|PATH|PS[0-4]|SHELLOPTS|BASHOPTS|PYTHONSTARTUP|PYTHONPATH"
    r"|PYTHONHOME|PYTHONUSERBASE|PERL5OPT|PERL5LIB|PERLLIB|RUBYOPT|RUBYLIB|NODE_OPTIONS"
    r"|NODE_PATH|JAVA_TOOL_OPTIONS|_JAVA_OPTIONS|JDK_JAVA_OPTIONS|GIT_\w+|HOME|XDG_\w+"
    r"|ZDOTDIR|SHELL|GOFLAGS|RUSTC_WRAPPER|RUSTC|RUSTFLAGS|CARGO_\w+|PYTEST_ADDOPTS"
    r"|PYTEST_PLUGINS|NPM_CONFIG_\w+|MAKEFLAGS|MAKE|CC|CXX|LESSKEY\w*|LESS|TERMINFO)$"
)
# Variables known to change only harmless things (output, locale, modes).
HARMLESS_ENV = re.compile(
    r"^(CI|DEBUG|VERBOSE|NODE_ENV|RUST_BACKTRACE|RUST_LOG|LOG_LEVEL|LANG|LANGUAGE|LC_\w+|TZ"
    r"|TERM|COLUMNS|LINES|NO_COLOR|FORCE_COLOR|CLICOLOR\w*|PYTHONUNBUFFERED"
    r"|PYTHONDONTWRITEBYTECODE|PYTHONHASHSEED|PYTHONWARNINGS|PYTHONIOENCODING|PYTHONUTF8"
    r"|GOOS|GOARCH|CGO_ENABLED|GO111MODULE|NODE_NO_WARNINGS|CARGO_TERM_COLOR|TMPDIR"
    r"|COVERAGE_FILE|HYPOTHESIS_PROFILE|DJANGO_SETTINGS_MODULE|FLASK_APP|FLASK_ENV|ENVIRONMENT"
    r"|APP_ENV|PORT|HOST|SEED|TEST_\w+|PY_COLORS|TOX_ENV|RAILS_ENV|MIX_ENV|GRADLE_OPTS"
    r"|MAVEN_OPTS|JAVA_HOME)$"
)


def analyse_assignment(name: str, value: str) -> Analysis:
    """Flags and code for `NAME=value` (before a command, alone, or after export)."""
    if COMMAND_ENV.__contains__(name):
        if name in ("LESSOPEN", "LESSCLOSE"):
            value = value.lstrip("|-").replace("%s", HOLE)
        return {f"code-in-environment:{name}"}, [code_source(name, value)] if value else []
    if UNKNOWN_CODE_ENV.match(name):
        return {f"code-in-environment:{name}"}, [Inner.unknown(name)]
    if HARMLESS_ENV.match(name) or not any(c.isupper() for c in name):
        return set(), []
    return {f"environment:{name}"}, []


__all__ = ["analyse_assignment"]
