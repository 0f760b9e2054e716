"""Checkpoints: atomic writes, weights_only loads, clear errors for bad files."""

import pickle
from unittest import mock

import pytest
import torch

from minigrpo.checkpoint import load_checkpoint, save_checkpoint
from minigrpo.config import ModelConfig
from minigrpo.model import GPT

CFG = ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=32)


def test_round_trip_restores_every_weight(tmp_path):
    torch.manual_seed(0)
    model = GPT(CFG)
    save_checkpoint(model, tmp_path / "m.pt", meta={"note": "x"})
    loaded, meta = load_checkpoint(tmp_path / "m.pt", expected=CFG)
    assert meta == {"note": "x"}
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert loaded.head.weight is loaded.tok_emb.weight  # still tied after loading
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(GPT(CFG), path)
    before = path.read_bytes()
    with mock.patch("torch.save", side_effect=OSError("disk full")), pytest.raises(OSError):
        save_checkpoint(GPT(CFG), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(GPT(CFG), path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


class Payload:
    def __reduce__(self):
        return (print, ("code ran while loading",))


def test_arbitrary_pickles_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump(Payload(), f, protocol=2)  # what torch.save uses: no unrelated warning
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(path)


def test_other_files_and_other_configs_are_named(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a minigrpo"):
        load_checkpoint(tmp_path / "other.pt")
    save_checkpoint(GPT(CFG), tmp_path / "m.pt")
    with pytest.raises(ValueError, match="another model config.*n_embd"):
        load_checkpoint(tmp_path / "m.pt", expected=ModelConfig(n_layer=1, n_head=2, n_embd=32, block_size=32))


def test_weights_with_a_nan_or_an_inf_are_neither_saved_nor_loaded(tmp_path):
    model = GPT(CFG)
    save_checkpoint(model, tmp_path / "good.pt")
    with torch.no_grad():
        model.ln_f.bias[1] = float("inf")
    with pytest.raises(ValueError, match="refusing to save .*ln_f.bias holds a nan or an inf"):
        save_checkpoint(model, tmp_path / "good.pt")
    assert load_checkpoint(tmp_path / "good.pt")  # the previous file is untouched
    payload = torch.load(tmp_path / "good.pt", weights_only=True)
    payload["state_dict"]["blocks.0.mlp.0.weight"][0, 0] = float("nan")
    torch.save(payload, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match="holds a nan or an inf in blocks.0.mlp.0.weight"):
        load_checkpoint(tmp_path / "nan.pt")


def edited(tmp_path, name, edit):
    """A valid checkpoint with ``edit(payload)`` applied: the files a user may hand to --init or eval."""
    save_checkpoint(GPT(CFG), tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    edit(payload)
    torch.save(payload, tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("edit, message", [
    (lambda p: p.pop("model_config"), "has no model_config"),
    (lambda p: p.pop("state_dict"), "no state_dict"),
    (lambda p: p["model_config"].update(n_embd="16"), "invalid model config"),
    (lambda p: p["model_config"].update(n_head=3), "invalid model config.*multiple of n_head"),
    (lambda p: p["model_config"].update(n_embd=32),
     r"does not fit its own model config .*: blocks.0.attn.proj.bias is \(16,\) in the file, \(32,\) for the config"),
    (lambda p: p["model_config"].update(n_layer=2), "does not fit .*blocks.1.* is missing in the file"),
    (lambda p: p["state_dict"].update(extra=torch.zeros(1)), "does not fit .*extra is \\(1,\\) in the file"),
])
def test_a_checkpoint_that_does_not_hold_together_is_one_clear_line(tmp_path, edit, message):
    with pytest.raises(ValueError, match=message) as err:
        load_checkpoint(edited(tmp_path, "bad.pt", edit))
    assert "\n" not in str(err.value)


def test_a_model_must_fit_the_tokenizer_and_the_tasks_longest_prompt_plus_its_completion():
    from minigrpo.checkpoint import check_fits
    from minigrpo.task import parse_problem
    from minigrpo.tokenizer import VOCAB_SIZE

    problems = [parse_problem("1+2"), parse_problem("12+34-5")]  # prompt '12+34-5:' is 8 tokens, 9 with <bos>
    check_fits(CFG, problems, 24, "m.pt")  # 9 + 24 - 1 = 32: the last new token is never fed back in
    with pytest.raises(ValueError, match="m.pt: block_size 32 is too small: .* plus 25 new tokens needs 33"):
        check_fits(CFG, problems, 25, "m.pt")
    solution = len("12+34=46;46-5=41;#41") + 1  # and <eos>: what eval and the warm start need room for
    check_fits(ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=9 + solution - 1), problems, None, "m.pt")
    with pytest.raises(ValueError, match="plus its worked solution needs 29"):
        check_fits(ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=28), problems, None, "m.pt")
    with pytest.raises(ValueError, match=f"vocab_size is {VOCAB_SIZE - 2}, the tokenizer has {VOCAB_SIZE}"):
        check_fits(ModelConfig(vocab_size=VOCAB_SIZE - 2, n_layer=1, n_head=2, n_embd=16), problems, 8, "m.pt")


def test_ctrl_c_in_the_middle_of_a_save_stays_a_ctrl_c(tmp_path, monkeypatch):
    """torch's zip writer fails on its way out when Ctrl-C lands inside torch.save; the user must still see an
    interruption (exit 130), not that RuntimeError, and no half-written file may stay."""
    import minigrpo.checkpoint as checkpoint

    def interrupted_save(payload, f):
        try:
            raise KeyboardInterrupt
        finally:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 22592 vs 22544")

    monkeypatch.setattr(checkpoint.torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.atomic_save({"x": 1}, tmp_path / "c.pt")
    assert list(tmp_path.iterdir()) == []
