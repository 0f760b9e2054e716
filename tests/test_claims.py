"""claim(): a true sentence is printed, a false one fails the notebook that states it."""

import numpy as np
import pytest
import torch

from minigrpo.lab.claims import ClaimError, claim


def test_a_claim_that_holds_is_printed(capsys):
    claim(0.75 > 0.5, "process beats outcome")
    assert capsys.readouterr().out == "claim holds: process beats outcome\n"


def test_a_claim_the_outputs_contradict_raises_with_the_sentence():
    with pytest.raises(ClaimError, match="the text claims: process beats outcome; the outputs above contradict"):
        claim(0.5 > 0.75, "process beats outcome")


def test_a_claim_is_an_assertion_so_pytest_and_nbmake_report_it_as_a_failure():
    assert issubclass(ClaimError, AssertionError)


def test_a_torch_comparison_of_two_numbers_is_accepted(capsys):
    claim(torch.tensor(0.7) > 0.5, "a torch comparison")
    assert capsys.readouterr().out == "claim holds: a torch comparison\n"
    with pytest.raises(ClaimError):
        claim(torch.tensor(0.2) > 0.5, "a torch comparison that fails")


def test_numpy_comparisons_are_accepted():
    claim(np.float64(0.7) > 0.5, "a numpy comparison")
    with pytest.raises(ClaimError):
        claim(np.array([1, 2]).sum() == 4, "a numpy comparison that fails")


@pytest.mark.parametrize("not_a_comparison", [0.7, "yes", None, [True], np.array([True, True]),
                                              torch.tensor([True, True]), torch.tensor(1.0)])
def test_anything_but_a_bool_is_refused_so_a_truthy_number_cannot_pass_for_a_check(not_a_comparison):
    with pytest.raises(TypeError, match="claim\\(\\) takes a bool"):
        claim(not_a_comparison, "a sentence")
