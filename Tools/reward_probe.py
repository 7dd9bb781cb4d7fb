#!/usr/bin/env python3
"""Probe a pipeline reward model where PPO needs it to be right (the compare task).

Loads the saved reward model with Hugging Face transformers (GPT2ForSequenceClassification, as
any user would) and, on the held-out prompts, reports how often it scores the right answer above
  - the demonstrator's slip: a close call (numbers < 20 apart, the smaller first) answered with
    the first number, and
  - numbers just above the answer that are not in the question (the answers PPO learns to give
    to a reward model that only learned "bigger is better"), and
  - the slip half undone: the smaller number's first digit and the larger's last ("64 or 72"
    -> "62"), for two-digit numbers whose first digits differ (what PPO drifts to), and
  - every answer from 0 to 99: how often the right answer is the reward model's favourite, the
    accuracy of a policy that maximised this reward model perfectly (PPO's ceiling).

Usage: python3 Tools/reward_probe.py runs/pipeline/reward runs/pipeline/task/eval.jsonl
Needs: pip install torch transformers tokenizers
"""
import json
import re
import sys

import torch
from tokenizers import Tokenizer
from transformers import GPT2ForSequenceClassification


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model_dir, eval_path = sys.argv[1], sys.argv[2]
    torch.set_num_threads(2)
    model = GPT2ForSequenceClassification.from_pretrained(model_dir).eval()
    tok = Tokenizer.from_file(model_dir + "/tokenizer.json")

    def ids(prompt, response):
        return tok.encode("<|user|>" + prompt + "<|assistant|>" + response, add_special_tokens=False).ids

    def score(prompt, response):
        with torch.no_grad():
            return model(torch.tensor([ids(prompt, response)])).logits[0, 0].item()

    def best_of_all(prompt):
        """The top-scored answer among 0-99 (one batched forward per answer length)."""
        best, best_score = None, float("-inf")
        for answers in (range(10), range(10, 100)):
            with torch.no_grad():
                scores = model(torch.tensor([ids(prompt, str(x)) for x in answers])).logits[:, 0].tolist()
            for x, s in zip(answers, scores):
                if s > best_score:
                    best, best_score = x, s
        return best

    rows = [json.loads(line) for line in open(eval_path)]
    slip, above, half, top = [0, 0], [0, 0], [0, 0], [0, 0]
    for r in rows:
        nums = [int(x) for x in re.findall(r"\d+", r["prompt"])]
        if len(nums) != 2:
            sys.exit(f"not a compare prompt: {r['prompt']!r}")
        a, b = nums
        big = max(a, b)
        right = score(r["prompt"], str(big))
        if a < b and b - a < 20:
            slip[0] += right > score(r["prompt"], str(a))
            slip[1] += 1
        small = min(a, b)
        if small >= 10 and small // 10 != big // 10:
            half[0] += right > score(r["prompt"], str(small)[0] + str(big)[1])
            half[1] += 1
        all_nines = 9 if big < 9 else 99
        for x in {big + 1, all_nines, big + 10}:
            if x < 100 and x not in (a, b) and x != big:
                above[0] += right > score(r["prompt"], str(x))
                above[1] += 1
        top[0] += best_of_all(r["prompt"]) == big
        top[1] += 1
    pct = lambda c: f"{100 * c[0] / max(1, c[1]):.1f}% ({c[0]}/{c[1]})"
    print(f"right answer above the slip (close calls):   {pct(slip)}")
    print(f"right answer above a just-bigger number:     {pct(above)}")
    print(f"right answer above the slip half undone:     {pct(half)}")
    print(f"right answer the favourite of all of 0-99:   {pct(top)}")


if __name__ == "__main__":
    main()
