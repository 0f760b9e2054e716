"""minigrpo: GRPO (DeepSeekMath, Shao et al. 2024) from scratch, step by step.

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
    r_phi                  scores (a learned model's)  sigmoid of a reward model's logit s_phi (reward_model.py)
    V                      values                      PPO's critic: the value of the state before each token
"""

__version__ = "0.1.0"
