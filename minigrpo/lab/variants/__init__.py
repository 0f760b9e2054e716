"""What came after DeepSeekMath's GRPO, each one config switch of ``LabGRPOConfig``:

    variants.py   RLOO, batch or no std, several rewards and GDPO, clip-higher, GSPO, DAPO's and Dr. GRPO's
                  averages, the KL estimator in the loss, the random-reward control
    credit.py     VinePPO's sampled step values, process advantages at outcome size, noisy step labels

The lab's loop (``lab/loop.py``) calls them in place of one step of the paper's; no step imports them.
"""
