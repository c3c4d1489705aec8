"""shellwords: a shell command -> its simple commands, with what cannot be proven harmless.

Nothing here runs a command: every string is only parsed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentctl.policy.inner import HOLE
from agentctl.policy.shellwords import parse_command
from agentctl.policy.words import describe_flag, normalise_name

ROOT = Path(__file__).resolve().parent.parent


def names(command: str) -> list[str]:
    parsed = parse_command(command)
    assert parsed.unparseable is None, parsed.unparseable
    return [c.name for c in parsed.commands]


def only(command: str):
    parsed = parse_command(command)
    assert parsed.unparseable is None, parsed.unparseable
    assert len(parsed.commands) == 1, parsed.commands
    return parsed.commands[0]


def flags(command: str) -> set[str]:
    parsed = parse_command(command)
    assert parsed.unparseable is None, parsed.unparseable
    return {f for c in parsed.commands for f in c.flags}


@pytest.mark.parametrize(
    "command, expected",
    [
        ("git status; rm -rf /", ["git", "rm"]),
        ("a && b || c | d", ["a", "b", "c", "d"]),
        ("a\nb\n\nc", ["a", "b", "c"]),
        ("a & b &", ["a", "b"]),
        ("(a; b) && { c; d; }", ["a", "b", "c", "d"]),
        ("if a; then b; elif c; then d; else e; fi", ["a", "b", "c", "d", "e"]),
        ("while a; do b; done; until c; do d; done", ["a", "b", "c", "d"]),
        ("for i in x y; do rm x; done", ["rm"]),
        ("! a | b", ["a", "b"]),
    ],
)
def test_compound_commands_yield_every_part(command, expected):
    assert names(command) == expected


@pytest.mark.parametrize(
    "command",
    [
        "/bin/rm x",
        "\\rm x",
        "'r'm x",
        '"rm" x',
        "r\\m x",
        "./rm x",
        "/usr/local/bin/rm x",
        "\"r\"'m' x",
        "'r''m' x",
        'r""m x',
        "''rm x",
    ],
)
def test_names_are_normalised(command):
    assert only(command).name == "rm"


def quoted(word: str, styles: list[str]) -> str:
    out = []
    for char, style in zip(word, styles):
        if char == " " and style in ("none", "empty"):
            style = "double"  # an unquoted space would split the word
        out.append(
            {
                "none": char,
                "single": f"'{char}'",
                "double": f'"{char}"',
                "backslash": "\\" + char,
                "empty": char + "''",
            }[style]
        )
    return "".join(out)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["rm", "git", "curl", "-rf", "/etc/passwd", "a b"]),
    st.lists(
        st.sampled_from(["none", "single", "double", "backslash", "empty"]),
        min_size=12,
        max_size=12,
    ),
)
def test_any_quoting_of_a_word_reads_as_the_word(word, styles):
    cmd = only(f"{quoted(word, styles)} {quoted(word, styles[::-1])}")
    assert cmd.program == word and cmd.args == (word,)


def test_words_lose_their_quotes_and_keep_order():
    cmd = only("git commit -m 'a message' \"--author=me\" x\\ y")
    assert cmd.args == ("commit", "-m", "a message", "--author=me", "x y")
    assert cmd.program == "git" and cmd.words[0] == "git"


def test_program_keeps_the_path_as_written():
    assert only("./scripts/build.sh --fast").program == "./scripts/build.sh"
    assert normalise_name("/bin/rm") == "rm" and normalise_name("rm") == "rm"


def test_redirects_have_target_and_direction():
    cmd = only("cat < in.txt > out.txt 2>> err.log &> both 2>&1 >| clob")
    got = [(r.op, r.target, r.direction, r.fd) for r in cmd.redirects]
    assert got == [
        ("<", "in.txt", "in", None),
        (">", "out.txt", "out", None),
        (">>", "err.log", "append", 2),
        ("&>", "both", "out", None),
        (">&", "1", "dup", 2),
        (">|", "clob", "out", None),
    ]
    assert [r.writes for r in cmd.redirects] == [False, True, True, True, False, True]


def test_compound_redirects_reach_every_inner_command():
    parsed = parse_command("{ ls; pwd; } > /etc/x")
    assert [[r.target for r in c.redirects] for c in parsed.commands] == [["/etc/x"], ["/etc/x"]]


def test_here_documents():
    cmd = only("cat > f.txt <<'EOF'\n$(rm x)\nEOF\n")
    assert cmd.flags == ()  # quoted delimiter: the body is literal text
    assert [r.direction for r in cmd.redirects] == ["out", "heredoc"]
    assert "heredoc-expansion" in flags("cat <<EOF\n$(rm x)\nEOF\n")
    assert names('cat <<"EOF"\nhi\nEOF\necho done') == ["cat", "echo"]


@pytest.mark.parametrize(
    "command, flag",
    [
        ("echo $(whoami)", "command-substitution"),
        ("echo `whoami`", "command-substitution"),
        ("x=$(whoami)", "command-substitution"),
        ("diff <(ls a) <(ls b)", "process-substitution"),
        ("$CMD x", "expansion-in-name"),
        ("${X} x", "expansion-in-name"),
        ("rm $HOME", "expansion-in-argument"),
        ("echo $'\\x72m'", "ansi-c-quoting"),
        ("$'\\x72m' -rf x", "expansion-in-name"),
        ("FOO=1 ls", "assignment"),
        ("IFS=/ ls", "assignment"),
        ("PATH=/tmp", "assignment"),
        ("rm {/etc/passwd,x}", "brace-expansion"),
        ("eval 'rm x'", "runs-command:eval"),
        ("exec rm x", "runs-command:exec"),
        ("bash -c 'rm x'", "runs-command:bash"),
        ("sh -c 'rm x'", "runs-command:sh"),
        ("zsh -c 'rm x'", "runs-command:zsh"),
        ("dash -ec 'rm x'", "runs-command:dash"),
        ("env rm x", "runs-command:env"),
        ("xargs rm", "runs-command:xargs"),
        ("timeout 5 rm x", "runs-command:timeout"),
        ("nice -n 5 rm x", "runs-command:nice"),
        ("nohup rm x", "runs-command:nohup"),
        ("sudo rm x", "runs-command:sudo"),
        ("doas rm x", "runs-command:doas"),
        ("su -c 'rm x' root", "runs-command:su"),
        ("command rm x", "runs-command:command"),
        ("builtin cd x", "runs-command:builtin"),
        ("/usr/bin/time rm x", "runs-command:time"),
        ("watch rm x", "runs-command:watch"),
        ("parallel rm ::: a b", "runs-command:parallel"),
        ("find . -exec rm {} ;", "find-exec"),
        ("find . -execdir rm {} +", "find-exec"),
        ("find . -ok rm {} ;", "find-exec"),
        ("python -c 'import os'", "inline-code:python"),
        ("python3 -Ic 'import os'", "inline-code:python3"),
        ("perl -e 'unlink 1'", "inline-code:perl"),
        ("perl -pe 's/a/b/' f", "inline-code:perl"),
        ("ruby -e 'x'", "inline-code:ruby"),
        ("node -e 'x'", "inline-code:node"),
        ("node --eval 'x'", "inline-code:node"),
        ("echo x | python3", "reads-stdin-code:python3"),
        ("echo 'rm x' | bash", "reads-stdin-code:bash"),
        ("bash <<EOF\nrm x\nEOF\n", "reads-stdin-code:bash"),
        ("awk '{system(\"rm x\")}' f", "awk-system"),
        ("awk '{print | \"sh\"}' f", "awk-system"),
        ("awk -f prog.awk f", "awk-system"),
        ("sed 's/a/b/e' f", "runs-command:sed"),
        ("sed -e '1e rm x' f", "runs-command:sed"),
        ("sed 's/a/b/w /etc/x' f", "sed-exec"),
        ("git -c core.pager=sh log", "runs-command:git -c core.pager"),
        ("git -c include.path=/tmp/x log", "git-config"),
        ("git st", "git-config"),
        ("git config alias.st '!rm x'", "git-config"),
        ("git rebase -x 'rm x' main", "runs-command:git rebase"),
        ("git submodule foreach rm x", "runs-command:git submodule"),
        ("source ./env.sh", "source"),
        (". ./env.sh", "source"),
        ("f() { ls; }", "function-definition"),
        ("function f { ls; }", "function-definition"),
        ("export PATH=/tmp", "code-in-environment:PATH"),
        ("alias ls='rm -rf'", "shell-state:alias"),
        ("trap 'rm x' EXIT", "shell-state:trap"),
        ("hash -p /tmp/evil ls", "shell-state:hash"),
        ("for f in $(ls); do :; done", "command-substitution"),
        ("{ ls; } > $OUT", "expansion-in-argument"),
    ],
)
def test_not_provably_harmless_is_flagged(command, flag):
    assert flag in flags(command)
    assert describe_flag(flag)


@pytest.mark.parametrize(
    "command",
    [
        "git status",
        "git log --oneline -5",
        "ls -la src",
        "pytest -x tests/test_a.py",
        "python3 script.py",
        "python3 -m pytest",
        "node app.js",
        "bash ./build.sh",
        "sed -n '/x/p' f",
        "sed -i 's/a/b/g' f",
        "awk '{print $1}' f",
        "cat a > b 2>&1",
        "echo '$(not run)'",
        "git config --get user.name",
        "command -v rm",
        "exec 3>out",
        "cd src && ls",
        "cat <<'EOF' > f\n$HOME\nEOF\n",
        "echo hi # $(comment)",
    ],
)
def test_plain_commands_have_no_flags(command):
    assert flags(command) == set()


@pytest.mark.parametrize(
    "command, inner",
    [
        ("echo $(rm -rf /)", ("rm", "-rf", "/")),
        ("echo `rm -rf /`", ("rm", "-rf", "/")),
        ("cat <(rm -rf /)", ("rm", "-rf", "/")),
        ("bash -c 'ls; rm -rf /'", ("rm", "-rf", "/")),
        ('sh -lc "rm -rf /"', ("rm", "-rf", "/")),
        ("eval rm -rf /", ("rm", "-rf", "/")),
        ("env -i FOO=1 rm -rf /", ("rm", "-rf", "/")),
        ("env -S 'rm -rf /'", ("rm", "-rf", "/")),
        ("xargs -n1 -I{} rm -rf {}", ("rm", "-rf", HOLE)),
        ("timeout -s KILL 5 rm -rf /", ("rm", "-rf", "/")),
        ("nice -n 10 nohup sudo -u root rm -rf /", ("rm", "-rf", "/")),
        ("find / -exec rm -rf {} \\;", ("rm", "-rf", "/" + HOLE)),
        ("watch -n 1 rm -rf /", ("rm", "-rf", "/")),
        ("bash <<EOF\nrm -rf /\nEOF\n", ("rm", "-rf", "/")),
        ("trap 'rm -rf /' EXIT", ("rm", "-rf", "/")),
        ("f() { rm -rf /; }", ("rm", "-rf", "/")),
    ],
)
def test_inner_commands_are_yielded_too(command, inner):
    parsed = parse_command(command)
    assert inner in [c.words for c in parsed.commands]


def test_inner_commands_say_what_runs_them():
    parsed = parse_command("env rm x")
    assert [(c.name, c.via) for c in parsed.commands] == [("env", ""), ("rm", "env")]


@pytest.mark.parametrize(
    "command",
    [
        "ls;;",
        "a &&",
        "echo 'unterminated",
        "echo $((a[$(id)]))",
        "for ((i=0; a[$(id)]; i++)); do :; done",
        "x" * 70_000,
        "ls\0rm",
        "a=(1 2)",
    ],
)
def test_what_cannot_be_parsed_is_one_unparseable_result(command):
    parsed = parse_command(command)
    assert parsed.unparseable and parsed.commands == []


@pytest.mark.parametrize("command", ["", "   ", "# just a comment", "\n# a\n  # b\n"])
def test_empty_and_comments_run_nothing(command):
    parsed = parse_command(command)
    assert parsed.unparseable is None and parsed.commands == []


def test_deep_nesting_is_flagged_not_followed():
    parsed = parse_command("eval " * 12 + "rm x")
    assert parsed.unparseable is None
    assert "too-deep" in {f for c in parsed.commands for f in c.flags}
    assert parsed.commands[0].name == "eval"


SEPARATORS = [";", "&&", "||", "|", "\n", "&"]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["git status", "ls -la", "pytest -x", "echo hi"]),
    st.sampled_from(SEPARATORS),
    st.sampled_from(["rm -rf /", "curl evil", "sudo x"]),
    st.sampled_from(["", " ", "  "]),
)
def test_every_part_of_a_chain_is_seen(first, separator, second, space):
    parsed = parse_command(first + space + separator + space + second)
    assert parsed.unparseable is None
    words = [c.words for c in parsed.commands]
    assert tuple(first.split()) in words and tuple(second.split()) in words


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab $()`'\";&|<>\\{}\n#=*-/")), max_size=30))
def test_parser_never_raises(text):
    parsed = parse_command(text)
    assert parsed.unparseable is None or parsed.commands == []


def test_an_unclosed_parameter_brace_is_unparseable_not_a_hang():
    # bashlex looked for the `}` with str.find and looped forever without one.
    parsed = parse_command("b}'#a>#)#{;=\"${{\n=({\n)'&")
    assert parsed.unparseable is not None and parsed.commands == []


@pytest.mark.parametrize("command", ["git status; \n\\", "git status\n\\", "git status;\\", "\\"])
def test_a_dangling_backslash_at_the_end_is_unparseable(command):
    # Found by the allowed-prefix property test: `git status; <newline>\` was allowed while
    # the part after the prefix alone asked. A trailing backslash now fails closed either way.
    assert parse_command(command).unparseable


def test_an_escaped_backslash_at_the_end_still_parses():
    assert not parse_command("echo a\\\\").unparseable


def test_bashlex_is_imported_only_when_a_command_is_parsed():
    # ~40 ms of start-up: a job that reads and writes files under a policy without command
    # patterns never parses a command.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from agentctl.policy.rules import PolicySet, default_policy\n"
        "policies = PolicySet([default_policy()])\n"
        "ws = Path.cwd()\n"
        "d = policies.decide('read_file', {'path': 'a.txt'}, workspace=ws)\n"
        "print(d.decision, 'bashlex' in sys.modules)\n"
        "d = policies.decide('shell', {'command': 'ls -la'}, workspace=ws)\n"
        "print(d.decision, 'bashlex' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["allow False", "allow True"]
