import pytest
import torch

from minigrpo.config import ModelConfig
from minigrpo.model import GPT


@pytest.fixture
def tiny_model():
    """A randomly initialized GPT small enough for unit tests (float64 for exact comparisons)."""
    torch.manual_seed(0)
    return GPT(ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=64)).double().eval()
