"""minigrpo: GRPO (DeepSeekMath, Shao et al. 2024) from scratch, step by step.

The package root is the lesson, read in this order: tokenizer, model, task, rewards, masked, warmup, evaluate,
policy_gradient (REINFORCE, what the clipped surrogate starts from), then ``grpo/`` (one file per step of the paper's
loop, then its loop) and ``ppo/`` (the same loop with a critic).
Everything added to it (variants, learned reward models, the fast path, torchrun, the command line, experiments)
is in ``minigrpo/lab``, which imports the lesson and is never imported by it.

Glossary — one name per symbol, used in code, notebooks and tests:

    q                      prompts / problems          a batch of B questions
    o_i                    completions                 G sampled answers per question
    G                      group_size
    B                      prompts_per_step
    T                      completion length           (tokens, padded to the longest in the batch)
    r_i                    rewards                     [B, G], one per completion (outcome)
    r_i^{index(j)}         step_rewards, step_ends     [B, G, S], one per reasoning step (process)
    A_{i,t}                adv                         [B, G, T], one per completion token
    pi_theta               logp                        log-probs under the policy being trained
    pi_old                 old_logp                    log-probs under the policy that sampled o_i
    pi_ref                 ref_logp                    log-probs under the frozen warm start
    ratio                  exp(logp - old_logp)
    epsilon                clip_eps
    beta                   kl_coef
    mu                     num_inner_steps             gradient steps per sampled batch
    mask                   mask                        [B, G, T], True on completion tokens (<eos> included)
    r_phi                  scores (a learned model's)  sigmoid of a reward model's logit s_phi (lab/reward_models)
    V                      values                      PPO's critic (ppo/critic.py): the value before each token
"""

__version__ = "0.1.0"
