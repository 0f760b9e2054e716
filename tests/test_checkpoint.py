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
