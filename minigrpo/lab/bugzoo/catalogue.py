"""The catalogue: each entry is a mistake found in public GRPO/PPO code, rewritten as one textual mutation.

A mutation replaces ``old``, which must occur exactly once in ``minigrpo/<file>``, with ``new``. When the
package changes and ``old`` no longer matches, the entry is stale and the zoo stops with an error: update
the text to plant the same mistake in the new code, never drop or weaken it. ``tests`` are the test files
or node ids expected to catch the bug, kept few so the whole zoo runs in minutes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bug:
    name: str
    file: str  # relative to minigrpo/
    old: str  # exact text, present once
    new: str  # what the mistake puts in its place
    description: str  # what it does to training
    source: str  # the public issue or pull request where it was found
    tests: tuple[str, ...]  # test files or node ids, relative to the repository root


STEP4 = "grpo/step4_ratio_clip.py"
SURROGATE = "torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)"
GROUP_NORM = "adv = (rewards - rewards.mean(dim=1, keepdim=True)) / (rewards.std(dim=1, keepdim=True) + eps)"
DELTAS = "deltas = torch.where(mask, rewards + gamma * next_values - values, 0.0)"
VALUE_LOSS_CALL = "clipped_value_loss(values, old_values, returns, group.mask, cfg.value_clip_eps)"

BUGS = [
    Bug("clip-min-of-ratios", STEP4, SURROGATE,
        "torch.minimum(ratio, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps)) * adv",
        "The min is taken over the ratios before multiplying by A, so the sign of A is ignored. For A > 0 nothing "
        "changes; for A < 0 it becomes the max of the two terms: a token the policy already avoids (ratio < 1 - eps) "
        "keeps being pushed down with no clip, and above 1 + eps the gradient is cut where it should act.",
        "https://github.com/takuseno/ppo/issues/3", ("tests/test_step4_ratio_clip.py",)),
    Bug("clip-without-min", STEP4, "return " + SURROGATE,
        "return torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv",
        "Only the clipped term is kept, with no min against the unclipped one: outside [1 - eps, 1 + eps] the "
        "gradient is zero for both signs of A, so a token whose probability moved the wrong way is never pulled "
        "back; the surrogate is no longer a lower bound of the unclipped objective.",
        "https://github.com/tensorforce/tensorforce/issues/106", ("tests/test_step4_ratio_clip.py",)),
    Bug("clip-with-max", STEP4, "torch.minimum(ratio * adv,", "torch.maximum(ratio * adv,",
        "A max instead of the min (the max belongs to the loss, the negated objective): the optimistic bound. "
        "With A > 0 the gradient never stops as the ratio rises, with A < 0 never as it falls, and it stops on "
        "the other side instead, so the update runs away from pi_old: the trust region is gone.",
        "https://github.com/openai/baselines/issues/1156", ("tests/test_step4_ratio_clip.py",)),
    Bug("adv-norm-precedence", "grpo/step3_group_norm.py", GROUP_NORM,
        "adv = rewards - rewards.mean(dim=1, keepdim=True) / (rewards.std(dim=1, keepdim=True) + eps)",
        "Operator precedence: r - mean / std instead of (r - mean) / std. The advantage is the raw reward minus "
        "a shift that grows with the group's success rate: once more than about half of a group is right "
        "(mean / std > 1 for 0/1 rewards), right answers get a negative advantage and are punished, and the "
        "advantages no longer sum to zero within the group.",
        "https://github.com/Omegastick/pytorch-cpp-rl/issues/14", ("tests/test_step3_group_norm.py",)),
    Bug("adv-over-the-whole-batch", "grpo/step3_group_norm.py", GROUP_NORM,
        "adv = (rewards - rewards.mean()) / (rewards.std() + eps)",
        "Mean and std over all B * G rewards instead of within each prompt's group: a right answer to a prompt "
        "the group nearly always solves earns as much as the only right answer to a hard one, and with graded "
        "rewards every completion of an easy prompt can get a positive advantage. GRPO's per-prompt baseline, "
        "the point of the group, is lost.",
        "https://github.com/XU-YIJIE/grpo-flat/issues/2", ("tests/test_step3_group_norm.py",)),
    Bug("k3-inverted-ratio", "grpo/step5_kl.py", "log_ratio = ref_logp - logp", "log_ratio = logp - ref_logp",
        "k3 with pi_theta / pi_ref in place of pi_ref / pi_theta. Sampled from pi_theta it no longer estimates "
        "KL(pi_theta || pi_ref) (its mean is E[pi_theta / pi_ref] - 1 - KL, unbounded where pi_ref is small), "
        "and its gradient, pi_theta / pi_ref - 1, grows exponentially where the policy has raised a token far "
        "above pi_ref: the penalty explodes exactly where it should be gentle.",
        "https://github.com/walkinglabs/hands-on-modern-rl/issues/27", ("tests/test_step5_kl.py",)),
    Bug("k3-exp-of-the-ratio", "grpo/step5_kl.py", "log_ratio = ref_logp - logp",
        "log_ratio = torch.exp(ref_logp - logp)",
        "k3 written with the probability ratio r where its log belongs: e^r - r - 1 instead of r - log r - 1. "
        "It is e - 2 = 0.72 per token even when pi_theta = pi_ref, so the penalty pushes a policy that has not "
        "moved, and it is doubly exponential in the log-ratio: the reported inf spikes of the KL.",
        "https://github.com/Rolv-Arild/rocket-learn/pull/12", ("tests/test_step5_kl.py",)),
    Bug("temperature-not-in-training-logprobs", "grpo/step1_sampling.py",
        "group.completions.flatten(0, 1), temperature)",
        "group.completions.flatten(0, 1))",
        "Completions are sampled from softmax(logits / T) but the update scores them under softmax(logits): at "
        "T != 1 the ratio pi_theta / pi_old is not 1 at the first inner step, so clipping acts on a distribution "
        "mismatch instead of on the update, and the gradient is that of a policy nobody samples from.",
        "https://github.com/huggingface/trl/pull/3029",
        ("tests/test_step1_sampling.py::test_old_logp_is_the_sampling_policys_logprob",)),
    Bug("logits-off-by-one", "model.py", "return tokens[:, :-1], valid[:, :-1], slice(P - 1, P - 1 + T)",
        "return tokens, valid, slice(P, P + T)",
        "Completion token t is scored by the logits of its own position, which have already seen it, instead of "
        "those of position t - 1, the state it was chosen in. The ratio and KL compare the wrong numbers, and "
        "the gradient trains each position to repeat the token it has just read.",
        "https://github.com/huggingface/trl/issues/3681",
        ("tests/test_model.py::test_token_logprobs_equal_a_manual_softmax_of_the_logits",)),
    Bug("eos-left-out-of-the-mask", "model.py", "out_mask.append(~finished)",
        "out_mask.append(~finished & (next_token != eos_id))",
        "The <eos> token is masked out of the completion: it never gets an advantage, a ratio or a KL term, so "
        "the policy is never trained on when to stop, and completions drift longer or never end.",
        "https://github.com/meta-pytorch/torchtune/pull/2967",
        ("tests/test_step1_sampling.py::test_mask_covers_tokens_up_to_and_including_eos",)),
    Bug("tokens-after-eos-counted", "model.py", "out_mask.append(~finished)",
        "out_mask.append(torch.ones_like(finished))",
        "Positions after <eos> count as real completion tokens: every completion is as long as the batch's "
        "longest, so per-completion means divide by the wrong length, and the padding's log-probs get advantages "
        "and gradients. In the reported case (a token-level mean, mu = 1) the loss was always exactly 0.",
        "https://github.com/bingreeky/MemGen/pull/33",
        ("tests/test_model.py::test_generation_logprobs_match_a_full_forward_and_padding_follows_eos",)),
    Bug("loss-denominator-counts-padding", "masked.py",
        "torch.where(mask, per_token, 0.0).sum(-1) / mask.sum(-1).clamp(min=1)",
        "torch.where(mask, per_token, 0.0).sum(-1) / mask.shape[-1]",
        "The per-completion mean divides by the padded length T instead of the completion's own token count: as "
        "in the report, the numerator skips masked tokens but the denominator counts them, so short completions "
        "are down-weighted by |o_i| / T and the loss scale depends on the longest completion in the batch.",
        "https://github.com/huggingface/trl/issues/6369", ("tests/test_masked.py", "tests/test_step6_objective.py")),
    Bug("gae-returns-without-advantages", "ppo/gae.py", "returns = torch.where(mask, advantages + values, 0.0)",
        "returns = torch.where(mask, values, 0.0)",
        "The critic's regression target is built from the wrong buffer, R = V_old instead of A + V_old: the "
        "critic is trained to predict its own values, so it never leaves its initial ones nor learns the rewards, "
        "and GAE keeps using a useless baseline.",
        "https://github.com/vwxyzjn/cleanrl/pull/337", ("tests/test_ppo_gae.py",)),
    Bug("gae-runs-past-the-end", "ppo/gae.py", DELTAS, "deltas = rewards + gamma * next_values - values",
        "The GAE sum is not cut at the end of the completion: the TD errors of the padding after <eos> (in the "
        "report, of the next episode) flow back into the last real tokens' advantages. Latent in this trainer, "
        "whose padding rewards and values are 0 before the sum; it bites any caller whose padding is not 0, which "
        "gae's contract allows.",
        "https://github.com/vietnh1009/Super-mario-bros-PPO-pytorch/issues/21", ("tests/test_ppo_gae.py",)),
    Bug("td-rewards-shifted", "ppo/gae.py", DELTAS,
        "deltas = torch.where(mask, torch.cat([torch.zeros_like(rewards[..., :1]), rewards[..., :-1]], -1)"
        " + gamma * next_values - values, 0.0)",
        "delta_t uses r_{t-1}: every reward is delayed by one token. With the outcome reward on the last token "
        "(<eos>) it falls off the end of the completion, so PPO on this task never sees the reward at all.",
        "https://github.com/openai/spinningup/issues/50", ("tests/test_ppo_gae.py",)),
    Bug("value-clip-with-min", "ppo/value_loss.py", "torch.maximum((values - returns) ** 2",
        "torch.minimum((values - returns) ** 2",
        "The clipped value loss takes the min of the clipped and unclipped errors, the optimistic one: a critic "
        "that has moved more than eps away from its target gets no gradient to come back, while moves towards "
        "the target are never clipped. The trust region is inverted.",
        "https://github.com/ray-project/ray/issues/2233",
        ("tests/test_ppo_value_loss.py::test_clipped_value_loss_matches_its_formula",
         "tests/test_ppo_value_loss.py::test_value_clip_stops_the_gradient_only_when_it_makes_the_loss_smaller")),
    Bug("value-clip-old-values-recomputed", "ppo/trainer.py", VALUE_LOSS_CALL,
        "clipped_value_loss(values, values.detach(), returns, group.mask, cfg.value_clip_eps)",
        "The old values of the clipped value loss are recomputed from the current critic at every inner step "
        "instead of being kept from sampling time: V - V_old is always 0, the clip never acts, and the option "
        "silently does nothing (at mu > 1; with one inner step the clip cannot bind anyway).",
        "https://github.com/tensorflow/agents/issues/352",
        ("tests/test_ppo_trainer.py::test_the_value_clip_is_anchored_at_the_sampling_time_values",)),
    Bug("reward-read-at-the-padded-end", "lab/reward_models/scores.py",
        "last = group.mask.flatten(0, 1).sum(-1, keepdim=True) - 1",
        "last = torch.full_like(group.mask.flatten(0, 1).sum(-1, keepdim=True), group.mask.shape[-1] - 1)",
        "The outcome reward model's score is read at the last position of the padded batch instead of at each "
        "completion's own last token: every completion shorter than the longest is scored at a padding position, "
        "which the model never attends to from a real token and never saw in training. GRPO then optimizes a "
        "number that has little to do with the completion, and short answers are scored alike.",
        "https://github.com/EleutherAI/gpt-neox/pull/1285",
        ("tests/test_reward_model.py::test_outcome_scores_are_read_at_the_last_token_of_each_completion",)),
    Bug("dapo-normalized-per-process", "masked.py",
        "torch.where(mask, per_token, 0.0).sum() / max(counts[1], 1.0)",
        "torch.where(mask, per_token, 0.0).sum() / max(world_size * int(mask.sum()), 1.0)",
        "DAPO's token mean divided by this process's own token count (the world size undone as if every process had "
        "as many) instead of the whole batch's: each process averages its own tokens, and the gradient average "
        "weighs a token of a process of short completions more than one of a process of long ones. One process "
        "gives the right loss; several give another one, which changes with the number of processes.",
        "https://github.com/huggingface/trl/pull/3938",
        ("tests/test_distributed_normalizers.py::test_the_mean_of_the_shard_losses_is_the_whole_batch_objective",)),
]
