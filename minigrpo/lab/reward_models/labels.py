"""The examples a reward model learns from: completions of the warm start, labeled automatically.

Outcome labels: y = the outcome verifier's verdict on the completion (1 right, 0 wrong).
Process labels, as Math-Shepherd (Wang et al. 2024, Sec. 3.3) estimates them without a step verifier:
after step j, sample K continuations c_1 .. c_K from the same policy and score their final answers,
    hard:  y_j = 1 if any c_k reaches the right answer, else 0                           (Eq. 3)
    soft:  y_j = 1/K sum_k [c_k reaches the right answer] = V_MC(state after step j)      (Eq. 4)
(``prefix_values.monte_carlo_values``). The last step holds the final answer: its label is the verdict.

These labels measure whether the answer can still be reached, not whether step j itself is right: after
the first slip every later step is labeled (almost always) 0, even one that carries the wrong value forward
correctly, which the exact step verifier (``rewards.step_rewards``) scores 1. Each example also keeps that
verifier's label at the same position, to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ...grpo.step1_sampling import sample_group
from ...grpo.step2_reward import score_outcomes, score_steps
from ...model import GPT
from ...prefix_values import monte_carlo_values
from ...rewards import outcome_reward, step_rewards
from ...task import Problem
from ...tokenizer import PAD_ID
from .model import KINDS

CHUNK = 64  # prompts sampled and labeled at a time: bounds memory, moves the progress bar


@dataclass
class Labeled:
    """N completions, the positions a reward model reads (S per completion) and what it should read there."""

    kind: str  # "outcome" (S = 1: the last token) or "process" (S = most steps: each step's end)
    problems: list[Problem]  # N
    texts: list[str]  # N decoded completions
    prompt: torch.Tensor  # [N, P] left-padded
    prompt_valid: torch.Tensor  # [N, P]
    completion: torch.Tensor  # [N, T] <pad> after <eos>
    mask: torch.Tensor  # [N, T] True on completion tokens
    positions: torch.Tensor  # [N, S] long: token indices (last token; or each step's end)
    weight: torch.Tensor  # [N, S] 1.0 where a label is, 0.0 on padding
    labels: torch.Tensor  # [N, S] what the model learns (verdict; hard or soft Monte Carlo estimate)
    verifier: torch.Tensor  # [N, S] the exact verifier's label at the same positions

    def rows(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(prompt, prompt_valid, completion, mask, positions) of the rows ``index``: score_logits' arguments."""
        return (self.prompt[index], self.prompt_valid[index], self.completion[index], self.mask[index],
                self.positions[index])


def _pad_cat(tensors: list[torch.Tensor], value, left: bool = False) -> torch.Tensor:
    """Concatenate [n_k, L_k] tensors along rows, padding every one to the longest L."""
    width = max(t.shape[1] for t in tensors)
    pads = [(width - t.shape[1], 0) if left else (0, width - t.shape[1]) for t in tensors]
    return torch.cat([torch.nn.functional.pad(t, pad, value=value) for t, pad in zip(tensors, pads)])


def step_labels_by_continuation(policy: GPT, problems: list[Problem], completion: torch.Tensor, step_ends: torch.Tensor,
                                step_mask: torch.Tensor, K: int, max_new_tokens: int, temperature: float,
                                generator: torch.Generator | None) -> torch.Tensor:
    """V_MC of the state after each step: completion [N, T], step_ends and step_mask [N, S] -> [N, S], the soft
    label (the hard one is V_MC > 0), 0 where there is no step. ``problems`` [N]: each completion's problem."""
    rows = torch.nonzero(step_mask).tolist()  # (completion, step), row-major
    prefixes = [completion[n, : step_ends[n, s] + 1].tolist() for n, s in rows]
    values, _ = monte_carlo_values(policy, [problems[n] for n, _ in rows], prefixes, K, max_new_tokens, temperature,
                                   generator)
    out = torch.zeros(step_mask.shape)
    out[step_mask] = values.float()  # boolean indexing goes row-major too
    return out


def label_completions(policy: GPT, problems: list[Problem], kind: str, samples_per_prompt: int, max_new_tokens: int,
                      temperature: float, generator, label: str = "hard", mc_samples: int = 4,
                      progress: bool = True) -> Labeled:
    """Sample ``samples_per_prompt`` completions per problem from ``policy`` and label them (module docstring)."""
    if kind not in KINDS or label not in ("hard", "soft"):
        raise ValueError(f"kind must be one of {KINDS} and label 'hard' or 'soft', got {kind!r}, {label!r}")
    parts = []
    chunks = range(0, len(problems), CHUNK)
    for start in tqdm(chunks, desc=f"label {kind}", disable=not progress):
        group = sample_group(policy, problems[start:start + CHUNK], samples_per_prompt, max_new_tokens, temperature,
                             generator)
        flat = [x.flatten(0, 1) for x in (group.prompt, group.prompt_valid, group.completions, group.mask)]
        repeated = [p for p in group.problems for _ in range(samples_per_prompt)]
        texts = [t for row in group.texts for t in row]
        if kind == "outcome":
            verdict = score_outcomes(outcome_reward, group).flatten()[:, None]  # [n, 1]
            positions = flat[3].sum(-1, keepdim=True) - 1  # the last token
            weight, labels, verifier = torch.ones_like(verdict), verdict, verdict
        else:
            step_r, step_ends, step_mask = (x.flatten(0, 1).cpu() for x in score_steps(step_rewards, group))
            soft = step_labels_by_continuation(policy, repeated, flat[2], step_ends, step_mask, mc_samples,
                                               max_new_tokens, temperature, generator)
            labels = soft if label == "soft" else (soft > 0).float()
            positions, weight, verifier = step_ends, step_mask.float(), step_r
        parts.append((repeated, texts, *[x.cpu() for x in flat], positions.cpu(), weight, labels, verifier))
    columns = list(zip(*parts))
    return Labeled(
        kind=kind, problems=[p for part in columns[0] for p in part], texts=[t for part in columns[1] for t in part],
        prompt=_pad_cat(columns[2], PAD_ID, left=True), prompt_valid=_pad_cat(columns[3], False, left=True),
        completion=_pad_cat(columns[4], PAD_ID), mask=_pad_cat(columns[5], False),
        positions=_pad_cat(columns[6], 0), weight=_pad_cat(columns[7], 0.0), labels=_pad_cat(columns[8], 0.0),
        verifier=_pad_cat(columns[9], 0.0),
    )
