#!/usr/bin/env python3
"""`foundry serve` driven by the official `openai` Python client, unchanged.

    python Tools/check_openai_client.py --foundry .build/debug/foundry [--model DIR] [--backend cpu]

Without --model it first makes a small chat-capable model (`foundry pretrain`, a few steps on
the built-in corpus; its tokenizer has Foundry's chat tokens). It then starts `foundry serve
--port 0 --api-key ...`, reads the port from its first line, and checks through the client:
the model list; a chat completion at temperature 0 and the same request streamed (the deltas
add up to the same text, ending with a finish reason); n=3 (three choices); logprobs with
top_logprobs=3 (each value <= 0, alternatives sorted, the chosen token's logprob equal to its
entry among the alternatives when present); a text completion with logprobs; a bad value
answered with openai.BadRequestError (400) and a wrong key with AuthenticationError (401).
Finally Ctrl-C (SIGINT) must stop the server with status 0.
Exit status 0 when all hold, 1 otherwise.
"""
import argparse, os, re, signal, subprocess, sys, tempfile

import openai


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--foundry", default=".build/debug/foundry")
    ap.add_argument("--model")
    ap.add_argument("--backend", default="cpu")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="foundry-openai-")
    model = args.model
    if not model:
        model = os.path.join(work, "model")
        subprocess.run([args.foundry, "pretrain", "--out", model, "--steps", "20", "--layers", "2", "--heads", "2", "--embd", "32",
                        "--context", "64", "--batch", "4", "--eval-every", "0", "--backend", args.backend],
                       check=True, stdout=subprocess.DEVNULL)
    key = "check-key"
    server = subprocess.Popen([args.foundry, "serve", "--model", model, "--port", "0", "--api-key", key, "--backend", args.backend],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        print("the server did not start:", line, server.stderr.read())
        return 1
    base = f"http://127.0.0.1:{m.group(1)}/v1"
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    try:
        client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
        models = client.models.list()
        check(len(models.data) == 1 and models.data[0].id == os.path.basename(model.rstrip("/")), f"models.list: {[x.id for x in models.data]}")

        messages = [{"role": "user", "content": "hello, who are you?"}]
        whole = client.chat.completions.create(model="any", messages=messages, temperature=0, max_tokens=24)
        text = whole.choices[0].message.content
        check(whole.choices[0].finish_reason in ("stop", "length") and whole.usage.completion_tokens > 0,
              f"chat completion: {text!r} ({whole.choices[0].finish_reason}, {whole.usage.completion_tokens} tokens)")

        pieces, finish = [], None
        for chunk in client.chat.completions.create(model="any", messages=messages, temperature=0, max_tokens=24, stream=True):
            for c in chunk.choices:
                if c.delta.content:
                    pieces.append(c.delta.content)
                finish = c.finish_reason or finish
        check("".join(pieces) == text and finish == whole.choices[0].finish_reason,
              f"streamed deltas add up to the same text ({len(pieces)} chunks, finish {finish})")

        three = client.chat.completions.create(model="any", messages=messages, temperature=1.0, max_tokens=12, n=3, seed=5)
        check(len(three.choices) == 3 and [c.index for c in three.choices] == [0, 1, 2], f"n=3: {[c.message.content for c in three.choices]}")

        lp = client.chat.completions.create(model="any", messages=messages, temperature=0, max_tokens=8, logprobs=True, top_logprobs=3)
        content = lp.choices[0].logprobs.content
        good = len(content) > 0
        for t in content:
            alts = [a.logprob for a in t.top_logprobs]
            good &= t.logprob <= 0 and len(alts) == 3 and alts == sorted(alts, reverse=True)
            good &= abs(t.logprob - alts[0]) < 1e-5   # greedy: the chosen token is the most likely
        check(good, f"logprobs with top_logprobs=3 on {len(content)} tokens")

        comp = client.completions.create(model="any", prompt="The ", max_tokens=6, temperature=0, logprobs=2)
        c = comp.choices[0]
        check(len(c.logprobs.tokens) == len(c.logprobs.token_logprobs) > 0 and "".join(c.logprobs.tokens).startswith(c.text[:1]),
              f"text completion: {c.text!r} with logprobs")

        try:
            client.chat.completions.create(model="any", messages=messages, temperature=5)
            check(False, "temperature 5 refused")
        except openai.BadRequestError as e:
            check(e.status_code == 400 and "temperature" in str(e), f"temperature 5 refused: {e.status_code}")

        try:
            openai.OpenAI(base_url=base, api_key="wrong", max_retries=0).models.list()
            check(False, "wrong key refused")
        except openai.AuthenticationError as e:
            check(e.status_code == 401, f"wrong key refused: {e.status_code}")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            status = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            status = None
    check(status == 0, f"Ctrl-C stops the server with status 0 (got {status})")
    print("OK" if not failures else f"{len(failures)} check(s) failed")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
