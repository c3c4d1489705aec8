"""Policy v1: loading, deciding actions (a corpus of bypass attempts), combining policies,
built-in protections, http_get addresses, and a policy's own tests.

Nothing here runs a shell command: commands are only parsed and decided.
"""

from __future__ import annotations

import http.server
import os
import socket
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentctl.errors import RecipeError
from agentctl.policy.rules import (
    DEFAULT_POLICY,
    PolicySet,
    default_policy,
    load_policy,
    load_policy_text,
)
from agentctl.policy.selftest import run_policy_tests
from agentctl.policy.urls import check_url_allowed, make_url_checker
from agentctl.tools.base import ToolContext
from agentctl.tools.builtin import builtin_registry

POLICY = """\
version: 1
name: test
default: ask
rules:
  - {id: read, tools: [read_file, list_files], decision: allow}
  - {id: edit-src, tools: [write_file, edit_file], paths: ["src/**"], decision: allow}
  - id: safe
    tools: [shell]
    commands: ["git status", "git diff *", "ls *", "cat *", "echo *", "pytest *"]
    decision: allow
  - {id: push, tools: [shell], commands: ["git push *"], decision: ask}
  - {id: destroy, tools: [shell], commands: ["rm *", "curl *"], decision: deny}
  - {id: named, tools: ["*"], paths: ["NAMED/**"], decision: allow}
  - {id: docs, tools: [http_get], hosts: ["docs.python.org", "*.example.org"], decision: allow}
"""


@pytest.fixture
def named(tmp_path) -> Path:
    folder = tmp_path / "named"
    folder.mkdir()
    return folder


@pytest.fixture
def policies(named) -> PolicySet:
    return PolicySet([load_policy_text(POLICY.replace("NAMED", str(named)), "test.yaml")])


def decide(policies: PolicySet, workspace: Path, tool: str, **args):
    return policies.decide(tool, args, workspace=workspace)


def shell(policies: PolicySet, workspace: Path, command: str) -> str:
    return decide(policies, workspace, "shell", command=command).decision


# --- the bypass corpus --------------------------------------------------------------------

BYPASSES = [
    # chaining: every part is decided, the strictest wins
    ("git status; rm -rf x", "deny"),
    ("git status && rm x", "deny"),
    ("git status || rm x", "deny"),
    ("git status | rm x", "deny"),
    ("git status\nrm x", "deny"),
    ("git status & rm x", "deny"),
    ("git status\r\nrm x", "deny"),
    ("(git status; rm x)", "deny"),
    ("{ git status; rm x; }", "deny"),
    ("if git status; then rm x; fi", "deny"),
    ("for f in a b; do rm x; done", "deny"),
    ("while false; do rm x; done", "deny"),
    ("! git status || rm x", "deny"),
    # substitutions: the inner command is decided, the outer is at least ask
    ("echo $(rm x)", "deny"),
    ("echo `rm x`", "deny"),
    ("cat <(rm x)", "deny"),
    ('echo "$(rm x)"', "deny"),
    ("x=$(rm x)", "deny"),
    ("echo $(whoami)", "ask"),
    ("echo `id`", "ask"),
    # wrappers: the wrapped command is decided, the wrapper is at least ask
    ("env rm x", "deny"),
    ("env FOO=1 rm x", "deny"),
    ("ls | xargs rm", "deny"),
    ("timeout 1 rm x", "deny"),
    ("nice -n 5 rm x", "deny"),
    ("nohup rm x", "deny"),
    ("sudo rm x", "deny"),
    ("exec rm x", "deny"),
    ("command rm x", "deny"),
    ("find . -exec rm {} \\;", "deny"),
    ("find . -execdir rm -rf {} +", "deny"),
    ("bash -c 'rm x'", "deny"),
    ('sh -c "git status; rm x"', "deny"),
    ("eval 'rm x'", "deny"),
    ("bash <<EOF\nrm x\nEOF\n", "deny"),
    ("python -c 'import shutil; shutil.rmtree(\"x\")'", "ask"),
    ("python3 -c 'print(1)'", "ask"),
    ("perl -e 'unlink \"x\"'", "ask"),
    # code run by an option is decided as that code; unknown code as any command
    ("echo 'rm x' | sh", "deny"),
    ("awk 'BEGIN{system(\"rm x\")}'", "deny"),
    ("git -c core.pager='rm x' log", "deny"),
    ("source ./evil.sh", "ask"),
    ("f() { ls; }; f", "ask"),
    # quoting and paths of the command name
    ("'r'm x", "deny"),
    ("\\rm x", "deny"),
    ('"rm" x', "deny"),
    ("r\\m x", "deny"),
    ("\"r\"'m' x", "deny"),
    ("'r''m' -rf x", "deny"),
    ("/bin/rm x", "deny"),
    ("/usr/bin/env rm x", "deny"),
    # expansions and assignments
    ("$CMD x", "deny"),
    ("${IFS}rm x", "deny"),
    ("echo $'\\x72m'", "allow"),
    ("IFS=/ ls", "ask"),
    ("FOO=1 git status", "ask"),
    ("PATH=/tmp:$PATH; git status", "deny"),
    ("echo {a,b}", "allow"),
    ("ls $HOME", "allow"),
    ("echo ${x:-$(whoami)}", "deny"),
    ("cat $HOME/.ssh/id_rsa", "deny"),
    # redirects outside the workspace
    ("echo hi > /etc/passwd", "deny"),
    ("echo hi >> ~/.bashrc", "deny"),
    ("ls 2> /tmp/log", "deny"),
    ("cat < /etc/shadow", "deny"),
    ("{ ls; } > /etc/x", "deny"),
    # traversal and absolute paths in arguments
    ("cat ../../etc/passwd", "deny"),
    ("cat /etc/passwd", "deny"),
    ("git diff ../outside", "deny"),
    ("ls --output=/etc/x", "deny"),
    ("ls -o/etc/passwd", "deny"),
    ("cat src/../../x", "deny"),
    ("cd / && ls", "deny"),
    ("cd && ls", "deny"),
    ("ls ~", "deny"),
    ("ls ../*", "deny"),
    # secrets
    ("cat .env", "deny"),
    ("cat src/.env.local", "deny"),
    ("cat .e*", "deny"),
    ("ls; cat deploy/id_ed25519", "deny"),
    # unparseable is at least ask, and never allow
    ("git status; echo $((a[$(id)]))", "ask"),
    ("git status; case x in a) rm x;; esac", "deny"),
    ("git status; echo $((1+1))", "allow"),
]


@pytest.mark.parametrize("command, expected", BYPASSES)
def test_bypass_corpus(policies, workspace, command, expected, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (workspace / ".env").write_text("SECRET=1")
    assert shell(policies, workspace, command) == expected


def test_corpus_is_big_enough():
    assert len(BYPASSES) >= 40


@pytest.mark.parametrize(
    "command, expected",
    [
        ("git status", "allow"),
        ("git diff --stat", "allow"),
        ("pytest -x tests && git status", "allow"),
        ("ls -la | cat", "allow"),
        ("cat x > /dev/null 2>&1", "allow"),
        ("echo ok > src/out.txt", "allow"),
        ("echo ok > notes.txt", "ask"),
        ("git push origin main", "ask"),
        ("git status; git push", "ask"),
        ("python3 script.py", "ask"),
        ("", "ask"),
    ],
)
def test_ordinary_commands(policies, workspace, command, expected):
    assert shell(policies, workspace, command) == expected


def test_decision_names_every_rule_that_voted(policies, workspace):
    got = decide(policies, workspace, "shell", command="git status; rm -rf /")
    assert got.decision == "deny"
    assert "test:safe (allow)" in got.rules and "test:destroy (deny)" in got.rules
    assert "builtin:outside-workspace (deny)" in got.rules
    assert got.reason
    flagged = decide(policies, workspace, "shell", command="echo $(whoami)")
    assert "builtin:not-provably-harmless (ask)" in flagged.rules
    assert "command substitution" in flagged.reason


# --- paths, symlinks, hard links, built-ins -----------------------------------------------


def test_symlink_planted_in_the_workspace(policies, workspace, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("x")
    (workspace / "src").mkdir()
    (workspace / "src" / "link").symlink_to(outside)
    (workspace / "src" / "file-link").symlink_to(outside / "secret.txt")
    assert decide(policies, workspace, "read_file", path="src/link/secret.txt").decision == "deny"
    assert decide(policies, workspace, "write_file", path="src/file-link").decision == "deny"
    assert shell(policies, workspace, "cat src/link/secret.txt") == "deny"
    assert shell(policies, workspace, "echo x > src/file-link") == "deny"
    # A link that stays inside is fine.
    (workspace / "src" / "inner").symlink_to(workspace / "src")
    assert decide(policies, workspace, "write_file", path="src/inner/a.py").decision == "allow"


def test_a_symlink_named_like_a_secret_is_a_secret(policies, workspace):
    (workspace / "notes.txt").write_text("x")
    (workspace / ".env").symlink_to(workspace / "notes.txt")
    (workspace / "harmless").symlink_to(workspace / ".env")
    assert decide(policies, workspace, "read_file", path=".env").decision == "deny"
    assert decide(policies, workspace, "read_file", path="notes.txt").decision == "allow"


def test_hardlinks_to_written_files_ask(policies, workspace, tmp_path):
    outside = tmp_path / "victim.txt"
    outside.write_text("x")
    (workspace / "src").mkdir()
    os.link(outside, workspace / "src" / "linked.py")
    got = decide(policies, workspace, "write_file", path="src/linked.py")
    assert got.decision == "ask" and "builtin:hardlink (ask)" in got.rules
    assert shell(policies, workspace, "echo x > src/linked.py") == "ask"
    assert decide(policies, workspace, "read_file", path="src/linked.py").decision == "allow"


def test_outside_paths_named_by_a_rule(policies, workspace, named):
    target = named / "scratch.txt"
    assert decide(policies, workspace, "write_file", path=str(target)).decision == "allow"
    assert shell(policies, workspace, f"cat {target}") == "allow"
    # A redirect outside stays at least ask, even where a rule names the place.
    assert shell(policies, workspace, f"echo x > {target}") == "ask"
    assert (
        decide(policies, workspace, "write_file", path=str(named.parent / "x")).decision == "deny"
    )


def test_a_named_outside_path_is_named_whatever_else_the_command_touches(
    policies, workspace, named
):
    (workspace / "src").mkdir()
    (workspace / "src" / "a.py").write_text("x")
    assert shell(policies, workspace, f"cat src/a.py {named}/b") == "allow"
    assert shell(policies, workspace, f"cat src/a.py {named.parent}/b") == "deny"


def test_globs_are_expanded_like_the_shell_would(policies, workspace):
    (workspace / ".env").write_text("SECRET=1")
    assert shell(policies, workspace, "cat .en?") == "deny"
    assert shell(policies, workspace, "echo x > .en*") == "deny"
    assert shell(policies, workspace, "ls *") == "allow"  # bash's * skips dot files


def test_shell_commands_touching_git_internals_ask(workspace):
    open_set = PolicySet()
    assert shell(open_set, workspace, "cp hook .git/hooks/pre-commit") == "ask"
    assert shell(open_set, workspace, "echo '[core]' >> .git/config") == "ask"
    assert shell(open_set, workspace, "git status") == "allow"


def test_database_and_its_companions_are_denied(policies, workspace):
    db = workspace / "agentctl.db"
    for name in ("agentctl.db", "agentctl.db-wal", "agentctl.db-shm"):
        got = policies.decide("read_file", {"path": name}, workspace=workspace, db_path=db)
        assert got.decision == "deny" and "builtin:database (deny)" in got.rules
    got = policies.decide(
        "shell", {"command": "cat agentctl.db-wal"}, workspace=workspace, db_path=db
    )
    assert got.decision == "deny"


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        "a/.env",
        ".env.production",
        "id_rsa",
        "k/id_rsa.pub",
        "id_ed25519",
        "tls/server.pem",
        "x.key",
        ".ENV",
    ],
)
def test_secret_files_cannot_be_allowed(workspace, path):
    allow_all = PolicySet(
        [
            load_policy_text(
                "version: 1\nname: open\ndefault: allow\nrules:\n"
                "  - {id: all, paths: ['**'], decision: allow}\n",
                "open.yaml",
            )
        ]
    )
    for tool in ("read_file", "write_file"):
        assert allow_all.decide(tool, {"path": path}, workspace=workspace).decision == "deny"


def test_writing_git_internals_asks(workspace):
    open_set = PolicySet()
    for path in (".git/config", ".git/hooks/pre-commit"):
        assert open_set.decide("write_file", {"path": path}, workspace=workspace).decision == "ask"
    assert (
        open_set.decide("read_file", {"path": ".git/config"}, workspace=workspace).decision
        == "allow"
    )


def test_a_paths_rule_decides_only_the_paths(workspace):
    policy = PolicySet(
        [
            load_policy_text(
                "version: 1\nname: p\ndefault: ask\nrules:\n"
                "  - {id: build, tools: [shell], commands: ['cp *'], paths: ['build/**'],"
                " decision: allow}\n"
                "  - {id: secrets, tools: ['*'], paths: ['private/**'], decision: deny}\n"
                "  - {id: mv, tools: [shell], commands: ['mv *'], decision: allow}\n",
                "p.yaml",
            )
        ]
    )
    # The program is decided by commands: rules only: cp has none (the paths rule names
    # only paths), so the default decides it.
    assert shell(policy, workspace, "cp build/a build/b") == "ask"
    assert shell(policy, workspace, "mv build/a build/b") == "allow"
    assert shell(policy, workspace, "mv build/a private/b") == "deny"


def test_bad_arguments(policies, workspace):
    assert decide(policies, workspace, "shell").decision == "deny"
    assert decide(policies, workspace, "read_file").decision == "deny"
    assert decide(policies, workspace, "read_file", path="a\0b").decision == "deny"
    assert decide(policies, workspace, "http_get", url="ftp://x/y").decision == "deny"


def test_custom_tools_match_by_name_and_path_arguments(workspace):
    policy = PolicySet(
        [
            load_policy_text(
                "version: 1\nname: p\ndefault: deny\nrules:\n"
                "  - {id: tests, tools: [run_tests], decision: allow}\n",
                "p.yaml",
            )
        ]
    )
    assert decide(policy, workspace, "run_tests", path="tests").decision == "allow"
    assert decide(policy, workspace, "run_tests", path="../../etc").decision == "deny"
    assert decide(policy, workspace, "other_tool").decision == "deny"


# --- http_get -------------------------------------------------------------------------------


def test_hosts_rules(policies, workspace):
    assert (
        decide(policies, workspace, "http_get", url="https://docs.python.org/3/").decision
        == "allow"
    )
    assert decide(policies, workspace, "http_get", url="https://a.example.org/").decision == "allow"
    assert decide(policies, workspace, "http_get", url="https://example.com/").decision == "ask"
    for url in (
        "http://169.254.169.254/latest/",
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "http://10.0.0.5/",
        "http://localhost/",
        "http://[fe80::1]/",
    ):
        assert decide(policies, workspace, "http_get", url=url).decision == "deny", url


def fake_resolver(table: dict[str, list[str]]):
    def resolve(host, port, type=0):
        if host not in table:
            raise socket.gaierror("unknown host")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, type, 6, "", (a, port))
            for a in table[host]
        ]

    return resolve


def test_check_url_allowed_refuses_private_addresses(policies):
    resolve = fake_resolver(
        {
            "docs.python.org": ["151.101.0.223"],
            "evil.example.org": ["169.254.169.254"],
            "intranet": ["10.1.2.3"],
            "mixed": ["8.8.8.8", "192.168.1.1"],
            "v6": ["fd00:ec2::254"],
            "mapped": ["::ffff:127.0.0.1"],
            "cgnat": ["100.100.100.200"],
        }
    )
    assert check_url_allowed("https://docs.python.org/3/", policies, resolve=resolve) is None
    for host in ("evil.example.org", "intranet", "mixed", "v6", "mapped", "cgnat"):
        reason = check_url_allowed(f"http://{host}/", policies, resolve=resolve)
        assert reason and host in reason, host
    assert "cannot resolve" in check_url_allowed("http://nowhere/", policies, resolve=resolve)


def test_a_host_named_in_every_policy_may_be_private(workspace):
    text = (
        "version: 1\nname: {n}\nrules:\n"
        "  - {{id: local, tools: [http_get], hosts: ['127.0.0.1'], decision: allow}}\n"
    )
    one = PolicySet([load_policy_text(text.format(n="a"), "a.yaml")])
    resolve = fake_resolver({"127.0.0.1": ["127.0.0.1"]})
    assert check_url_allowed("http://127.0.0.1:9/", one, resolve=resolve) is None
    both = PolicySet([one.policies[0], load_policy_text("version: 1\nname: b\n", "b.yaml")])
    assert check_url_allowed("http://127.0.0.1:9/", both, resolve=resolve) is not None
    assert (
        PolicySet().decide("http_get", {"url": "http://127.0.0.1:9/"}, workspace=workspace).decision
        == "deny"
    )


class _Redirects(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/hello":
            body = b"hello body"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        target = {
            "/to-localhost": f"http://localhost:{self.server.server_address[1]}/hello",
            "/to-hello": "/hello",
        }[self.path]
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server(monkeypatch):
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirects)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_get_checks_the_url_and_every_redirect_hop(workspace, local_server):
    policy = PolicySet(
        [
            load_policy_text(
                "version: 1\nname: local\ndefault: allow\nrules:\n"
                "  - {id: local, tools: [http_get], hosts: ['127.0.0.1'], decision: allow}\n",
                "l.yaml",
            )
        ]
    )
    http_get = builtin_registry().select(["http_get"])["http_get"]
    ctx = ToolContext(workspace=workspace, timeout=10)
    ctx.url_checker = make_url_checker(policy, workspace)
    ok = http_get.run({"url": f"{local_server}/to-hello"}, ctx)
    assert ok.ok and "hello body" in ok.output
    bounced = http_get.run({"url": f"{local_server}/to-localhost"}, ctx)
    assert not bounced.ok and bounced.error == "refused" and "localhost" in bounced.output
    ctx.url_checker = make_url_checker(PolicySet(), workspace)
    refused = http_get.run({"url": f"{local_server}/hello"}, ctx)
    assert not refused.ok and refused.error == "refused"


# --- combining policies ---------------------------------------------------------------------

STRICT = """\
version: 1
name: strict
default: deny
rules:
  - {id: status, tools: [shell], commands: ["git status"], decision: allow}
limits: {max_turns: 10, timeout: 1h, tool_timeout: 30s}
sandbox: required
network: true
redact: ["token-[0-9]+"]
approvals: {expires_after: 2h}
"""
LOOSE = """\
version: 1
name: loose
default: allow
limits: {max_turns: 50, max_cost_usd: 3, timeout: 10m}
sandbox: off
network: false
redact: ["key-[a-z]+", "token-[0-9]+"]
approvals: {expires_after: 1d}
"""


def test_the_strictest_policy_wins(workspace):
    both = PolicySet([load_policy_text(STRICT, "s.yaml"), load_policy_text(LOOSE, "l.yaml")])
    assert both.decide("shell", {"command": "git status"}, workspace=workspace).decision == "allow"
    got = both.decide("shell", {"command": "ls"}, workspace=workspace)
    assert got.decision == "deny" and got.rules == [
        "strict:default (deny)",
        "loose:default (allow)",
    ]
    limits = both.limits
    assert (
        limits.max_turns,
        limits.max_cost_usd,
        limits.timeout,
        limits.tool_timeout,
        limits.max_tool_calls,
    ) == (10, 3.0, 600.0, 30.0, None)
    assert both.sandbox == "required" and both.network is False
    assert both.redact == ["token-[0-9]+", "key-[a-z]+"]
    assert both.approval_expires_after == 7200.0


def test_without_a_policy_the_default_keeps_recipes_running(workspace):
    default = PolicySet()
    assert default.is_default and default.policies == [default_policy()]
    assert "keep running" in DEFAULT_POLICY
    for tool, args in [
        ("shell", {"command": "python3 test_calc.py 2>&1 || true"}),
        ("shell", {"command": "ls issues"}),
        ("shell", {"command": "cat X.md"}),
        ("write_file", {"path": "LABELS.md"}),
        ("read_file", {"path": "a"}),
        ("http_get", {"url": "https://example.com/"}),
    ]:
        assert default.decide(tool, args, workspace=workspace).decision == "allow", args
    for tool, args, expected in [
        ("shell", {"command": "rm -rf /"}, "deny"),
        ("read_file", {"path": ".env"}, "deny"),
        ("shell", {"command": "bash -c ls"}, "ask"),
        ("write_file", {"path": "../x"}, "deny"),
    ]:
        assert default.decide(tool, args, workspace=workspace).decision == expected, args


# --- property: an allowed command never carries a denied one -----------------------------------

ALLOWED = [
    "git status",
    "ls -la",
    "cat README.md",
    "echo hello",
    "pytest -x tests",
    "git diff --stat",
    # unknown values, tests, case and arithmetic are decided by their parts
    "echo $HOME",
    'ls "$PWD"',
    "case $1 in start) ls -la;; *) echo no;; esac",
    "case x in a) echo;; esac",
    "echo $((1+2))",
    "for f in *.py; do echo $f; done",
]
DENIED = [
    "rm -rf x",
    "rm x",
    "curl http://x",
    "/bin/rm -rf /",
    "'r'm x",
    "cat /etc/passwd",
    "echo x > /etc/passwd",
    "cat .env",
    "env rm x",
    "bash -c 'rm x'",
    "echo $(rm x)",
    # spelled otherwise, hidden in an option, or unknown
    "rm -r -f x",
    "rm $X",
    "[[ -f x ]] && rm x",
    "$CMD x",
    "git -c core.pager='rm x' log",
    "case x in a) rm x;; esac",
    "find . -exec rm {} +",
    "ls | xargs rm",
    "sed '1e rm x' f",
]
SEPARATORS = [";", "&&", "||", "|", "\n", "&", " ; ", " && ", " | "]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    allowed=st.sampled_from(ALLOWED),
    separator=st.sampled_from(SEPARATORS),
    denied=st.sampled_from(DENIED),
    denied_first=st.booleans(),
)
def test_allowed_then_separator_then_denied_is_deny(
    policies, workspace, allowed, separator, denied, denied_first
):
    command = denied + separator + allowed if denied_first else allowed + separator + denied
    assert shell(policies, workspace, allowed) == "allow"
    assert shell(policies, workspace, denied) == "deny"
    assert shell(policies, workspace, command) == "deny"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.sampled_from(list("ab $()`'\";&|<>\\{}\n=*-/.")), max_size=25))
def test_an_allowed_prefix_never_makes_anything_allowed_that_was_not(policies, workspace, tail):
    whole = shell(policies, workspace, "git status; " + tail)
    alone = shell(policies, workspace, tail) if tail.strip() else "allow"
    if alone != "allow":
        assert whole != "allow"


# --- loading --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, where, words",
    [
        (
            "version: 1\nname: x\nrules:\n  - {id: a, decision: allow}\n  - {id: a, decision: deny}\n",
            "p.yaml:5:",
            "duplicate rule id",
        ),
        ("version: 1\nname: x\nbogus: 1\n", "p.yaml:3:1", 'unknown key "bogus"'),
        ("version: 1\nname: x\nredact: ['(']\n", "p.yaml:3:", "not a valid regex"),
        ("version: 1\nname: x\nredact: ['a*']\n", "p.yaml:3:", "empty string"),
        ("version: 1\nname: x\nlimits: {timeout: soon}\n", "p.yaml:3:19", "bad duration"),
        ("version: 2\nname: x\n", "p.yaml:1:10", "version"),
        ("version: 1\nname: x\ndefault: maybe\n", "p.yaml:3:10", "default"),
        (
            "version: 1\nname: x\nrules:\n  - {id: a, tools: [read_file], commands: [ls], decision: allow}\n",
            "p.yaml:4:",
            "only applies to the shell tool",
        ),
        (
            "version: 1\nname: x\nrules:\n  - {id: a, tools: [shell], commands: ['ls; rm'], decision: allow}\n",
            "p.yaml:4:",
            "one simple command",
        ),
        (
            (
                "version: 1\nname: x\nrules:\n  - {id: a, tools: [http_get], hosts: ['https://x.org/'],"
                " decision: allow}\n"
            ),
            "p.yaml:4:",
            "not a host name",
        ),
        (
            "version: 1\nname: x\nrules:\n  - {id: a, paths: [], decision: allow}\n",
            "p.yaml:4:",
            "empty paths",
        ),
        (
            "version: 1\nname: x\ntests:\n  - {tool: x, expect: allow, workspace_files: {../a: b}}\n",
            "p.yaml:4:",
            "relative path inside",
        ),
        (
            "version: 1\nname: x\nrules:\n  - {id: default, decision: allow}\n",
            "p.yaml:4:",
            "default",
        ),
        ("- 1\n", "p.yaml:1:1", "mapping"),
    ],
)
def test_load_errors_name_file_line_column(text, where, words):
    with pytest.raises(RecipeError) as info:
        load_policy_text(text, "p.yaml")
    assert info.value.message.startswith(where), info.value.message
    assert words in info.value.message and info.value.hint and info.value.exit_code == 2


def test_load_policy_reads_files(tmp_path):
    with pytest.raises(RecipeError, match="not found"):
        load_policy(tmp_path / "missing.yaml")
    path = tmp_path / "p.yaml"
    path.write_text(POLICY)
    policy = load_policy(path)
    assert policy.name == "test" and policy.file == str(path) and len(policy.rules) == 7


# --- a policy's own tests ---------------------------------------------------------------------


def test_run_policy_tests_reports_failures_with_their_line(tmp_path):
    policy = load_policy_text(
        POLICY.replace("NAMED", str(tmp_path))
        + """\
tests:
  - {tool: shell, args: {command: "git status"}, expect: allow}
  - {tool: shell, args: {command: "git status; rm -rf /"}, expect: allow}
  - tool: read_file
    args: {path: link/x}
    workspace_files: {link: {symlink: /etc}, src/a.py: "print(1)"}
    expect: deny
""",
        "p.yaml",
    )
    failures = run_policy_tests(policy, tmp_path)
    assert len(failures) == 1
    failure = failures[0]
    assert (failure.index, failure.line, failure.expected, failure.got.decision) == (
        1,
        17,
        "allow",
        "deny",
    )
    assert failure.message().startswith("p.yaml:17:5: test 2 (shell")


@pytest.mark.parametrize("name", ["read-only", "ci-safe", "dev-laptop"])
def test_shipped_policies_pass_their_tests(name, tmp_path):
    path = Path(__file__).parent.parent / "policies" / f"{name}.yaml"
    policy = load_policy(path)
    assert len(policy.tests) >= 8
    assert run_policy_tests(policy, tmp_path) == []
