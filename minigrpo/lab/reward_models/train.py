"""Train a reward model on labeled completions, and measure it against the exact verifier on completions it
never saw (prompts of the test split).

What is measured on held-out completions, each at the positions the model reads (``evaluate``):
    loss            the cross-entropy against the model's own kind of label (Eq. 1 or 2)
    accuracy        [r_phi > 1/2] == [y > 1/2] against those labels
    verifier_accuracy, brier, ece
                    against the exact verifier: the outcome verdict, or the step verifier's score of each step.
                    ECE (expected calibration error) = sum_b n_b / n |mean r_phi - mean verifier| over 10 equal
                    bins of r_phi; ``calibration`` holds each bin's (count, mean score, mean verifier label)
    label_verifier_agreement
                    process: how often the Monte Carlo labels themselves agree with the step verifier
    first_error_found
                    process: of the completions with a wrong step, the fraction whose first step scored below
                    1/2 is the verifier's first wrong step (``first_error_labels``: the same for the labels)
"""

from __future__ import annotations

import torch
from torch.nn.utils import clip_grad_norm_
from tqdm.auto import tqdm

from ...model import GPT
from ...task import Problem
from ..config import RewardModelConfig
from .labels import Labeled, label_completions
from .model import ValueModel, reward_model_loss, score_logits

BINS = 10


def first_below_half(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Index of the first labeled position whose value is below 1/2, per row: [N, S] -> [N], -1 where none is."""
    low = (values < 0.5) & (weight > 0)
    first = low.float().argmax(-1)
    return torch.where(low.any(-1), first, -1)


@torch.no_grad()
def evaluate(model: ValueModel, data: Labeled, batch_size: int = 256) -> dict:
    """The module docstring's measures of ``model`` on ``data``."""
    model.eval()
    device = next(model.parameters()).device
    batches = []
    for start in range(0, len(data.texts), batch_size):
        rows = data.rows(torch.arange(start, min(start + batch_size, len(data.texts))))
        batches.append(score_logits(model, *(x.to(device) for x in rows)).cpu())
    logits = torch.cat(batches).float()
    real = data.weight > 0
    p, y, v = torch.sigmoid(logits)[real], data.labels[real], data.verifier[real]
    bins = (p * BINS).long().clamp(max=BINS - 1)
    calibration = [(int((bins == b).sum()), (p[bins == b].mean().item() if (bins == b).any() else None),
                    (v[bins == b].mean().item() if (bins == b).any() else None)) for b in range(BINS)]
    report = {
        "loss": reward_model_loss(logits, data.labels, data.weight).item(),
        "accuracy": ((p > 0.5) == (y > 0.5)).float().mean().item(),
        "verifier_accuracy": ((p > 0.5) == (v > 0.5)).float().mean().item(),
        "brier": ((p - v) ** 2).mean().item(),
        "ece": sum(n * abs(mp - mv) for n, mp, mv in calibration if n) / len(p),
        "calibration": calibration,
        "positions": len(p),
    }
    if data.kind == "process":
        wrong = first_below_half(data.verifier, data.weight)
        has_error = wrong >= 0
        scored = torch.where(real, torch.sigmoid(logits), 1.0)
        def found(values):  # None when no completion has a wrong step
            hits = (first_below_half(values, data.weight) == wrong)[has_error]
            return hits.float().mean().item() if len(hits) else None

        report["label_verifier_agreement"] = ((y > 0.5) == (v > 0.5)).float().mean().item()
        report["first_error_found"] = found(scored)
        report["first_error_labels"] = found(data.labels)
        report["completions_with_error"] = int(has_error.sum())
    return report


def train_reward_model(policy: GPT, cfg: RewardModelConfig, train: list[Problem], test: list[Problem], log=None,
                       progress: bool = True) -> tuple[ValueModel, dict]:
    """Label completions of ``policy`` (the warm start), train a reward model from its weights, measure it.

    Returns (the model, its held-out report); ``log(record)`` gets each step's loss and each evaluation.
    """
    log = log or (lambda record: None)
    if len(train) < cfg.prompts or len(test) < cfg.heldout_prompts:
        raise ValueError(f"need {cfg.prompts} training and {cfg.heldout_prompts} held-out prompts, the splits hold "
                         f"{len(train)} and {len(test)}")
    device = next(policy.parameters()).device
    torch.manual_seed(cfg.seed)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    batches = torch.Generator().manual_seed(cfg.seed)
    prompts = [train[i] for i in torch.randperm(len(train), generator=batches)[: cfg.prompts].tolist()]
    label = {"kind": cfg.kind, "samples_per_prompt": cfg.samples_per_prompt, "max_new_tokens": cfg.max_new_tokens,
             "temperature": cfg.temperature, "generator": generator, "label": cfg.label,
             "mc_samples": cfg.mc_samples, "progress": progress}
    data = label_completions(policy, prompts, **label)
    heldout = label_completions(policy, test[: cfg.heldout_prompts], **label)
    log({"step": 0, "examples": len(data.texts), "heldout_examples": len(heldout.texts),
         "positive_frac": (data.labels[data.weight > 0] > 0.5).float().mean().item()})

    model = ValueModel.from_policy(policy)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    for step in tqdm(range(1, cfg.steps + 1), desc=f"{cfg.kind} reward model", disable=not progress):
        model.train()
        index = torch.randint(len(data.texts), (cfg.batch_size,), generator=batches)
        rows = [x.to(device) for x in data.rows(index)]
        loss = reward_model_loss(score_logits(model, *rows), data.labels[index].to(device),
                                 data.weight[index].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        record = {"step": step, "loss": loss.item()}
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record.update({f"heldout_{k}": v for k, v in evaluate(model, heldout).items()})
        log(record)
    return model.eval(), evaluate(model, heldout)
