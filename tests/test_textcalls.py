"""Tool calls written as text (agentctl.models.textcalls): what becomes a real call, what stays
text, and the conversation told as text for templates without tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentctl.models.replies import normalise_message
from agentctl.models.textcalls import (
    find_text_calls,
    recover_tool_calls,
    tools_as_text,
    with_tools_prompt,
)

OFFERED = {"read_file", "list_files"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
]


def calls_in(text: str) -> tuple[list[tuple[str, dict]], str | None]:
    message = recover_tool_calls({"role": "assistant", "content": text}, OFFERED, 7)
    calls = [
        (c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in message.get("tool_calls", [])
    ]
    return calls, message["content"]


def test_a_tagged_block_becomes_a_call_and_the_rest_stays_the_message():
    calls, rest = calls_in(
        'Let me look.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "a.md"}}\n</tool_call>'
    )
    assert calls == [("read_file", {"path": "a.md"})]
    assert rest == "Let me look."


def test_an_unclosed_tag_at_the_end_still_counts():
    calls, rest = calls_in('<tool_call>{"name": "list_files", "arguments": {}}')
    assert calls == [("list_files", {})]
    assert rest is None


def test_a_fenced_json_block_and_a_list_of_calls():
    text = (
        "```json\n"
        '[{"name": "read_file", "arguments": {"path": "a"}},'
        ' {"name": "read_file", "arguments": "{\\"path\\": \\"b\\"}"}]\n'
        "```"
    )
    calls, rest = calls_in(text)
    assert calls == [("read_file", {"path": "a"}), ("read_file", {"path": "b"})]
    assert rest is None


def test_bare_json_in_prose_and_the_openai_shape():
    calls, rest = calls_in(
        'I will call {"function": {"name": "read_file", "arguments": {"path": "x"}}} now.'
    )
    assert calls == [("read_file", {"path": "x"})]
    assert rest == "I will call  now."


def test_ids_are_stable_per_call_index():
    message = recover_tool_calls(
        {"role": "assistant", "content": '{"name": "list_files", "arguments": {}}'}, OFFERED, 3
    )
    assert [c["id"] for c in message["tool_calls"]] == ["call_3_0"]


@pytest.mark.parametrize(
    "text",
    [
        "Just an answer.",
        '{"name": "delete_everything", "arguments": {}}',  # not an offered tool
        '<tool_call>{"name": "read_file", "arguments": {"path": </tool_call>',  # cut short
        '```json\n{"name": "read_file", "arguments": ["a"]}\n```',  # arguments not an object
        '[{"name": "read_file", "arguments": {}}, {"name": "rm", "arguments": {}}]',  # one bad
        'The config is {"name": "demo", "port": 8080}.',  # JSON that names no tool
        '{"name": "read_file", "arguments": "not json"}',
    ],
)
def test_anything_else_stays_text(text):
    calls, rest = calls_in(text)
    assert calls == []
    assert rest == text


def test_real_calls_are_kept_and_no_offered_tools_means_no_recovery():
    real = {
        "role": "assistant",
        "content": '{"name": "read_file", "arguments": {}}',
        "tool_calls": [
            {"id": "x", "type": "function", "function": {"name": "list_files", "arguments": "{}"}}
        ],
    }
    assert recover_tool_calls(real, OFFERED, 0) is real
    assert find_text_calls('{"name": "read_file", "arguments": {}}', set()) is None


def test_normalise_message_recovers_only_when_asked():
    reply = {"role": "assistant", "content": '{"name": "read_file", "arguments": {"path": "a"}}'}
    assert "tool_calls" not in normalise_message(reply, 0)
    recovered = normalise_message(reply, 0, text_tools=OFFERED)
    assert recovered["tool_calls"][0]["function"]["name"] == "read_file"


def test_tools_as_text_writes_calls_and_results_for_templates_without_tools():
    messages = [
        {"role": "user", "content": "read a"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "a"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "hello"},
    ]
    sent = tools_as_text(messages)
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == (
        '<tool_call>\n{"name": "read_file", "arguments": {"path": "a"}}\n</tool_call>'
    )
    assert sent[2]["content"] == "Result of read_file:\nhello"
    assert messages[2]["role"] == "tool"  # what the job keeps is unchanged
    # What the model is told to write is what is recovered.
    assert calls_in(sent[1]["content"])[0] == [("read_file", {"path": "a"})]


def test_with_tools_prompt_joins_the_system_message():
    sent = with_tools_prompt([{"role": "system", "content": "Be brief."}], TOOLS)
    assert len(sent) == 1
    assert sent[0]["content"].startswith("Be brief.\n\nYou can call these tools:")
    assert '"name": "read_file"' in sent[0]["content"]
    alone = with_tools_prompt([{"role": "user", "content": "hi"}], TOOLS)
    assert [m["role"] for m in alone] == ["system", "user"]
    assert with_tools_prompt([{"role": "user", "content": "hi"}], []) == [
        {"role": "user", "content": "hi"}
    ]


# Real replies of SmolLM2-135M-Instruct asked through agentctl's tools prompt (recorded, not
# written by hand: see the file's note).
RECORDED = json.loads((Path(__file__).parent / "data" / "smollm2_replies.json").read_text())


def test_recorded_real_replies_become_calls_only_when_they_name_an_offered_tool():
    offered = set(RECORDED["tools"])
    found = {}
    for row in RECORDED["replies"]:
        message = recover_tool_calls({"role": "assistant", "content": row["reply"]}, offered, 0)
        calls = [
            (c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in message.get("tool_calls", [])
        ]
        if calls:
            assert message["content"] is None  # the block was the whole reply
        else:
            assert message["content"] == row["reply"]  # code blocks and prose stay text
        found[row["q"], row["shots"]] = calls
    assert found["Read notes.txt and tell me what it says.", True] == [
        ("read_file", {"path": "notes.txt"})
    ]
    assert found["Call list_files for the folder src.", True] == [
        ("list_files", {"path": "src.txt"})
    ]
    assert sum(1 for calls in found.values() if calls) == 2
