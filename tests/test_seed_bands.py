"""Learning curves over seeds: the band is the t-interval of the seeds' accuracies at each shared evaluation."""

import pytest

from minigrpo.viz.seeds import band, plot_seed_bands


def record(accuracies, seconds):
    return {"accuracy": [{"step": 50 * i, "accuracy": a, "wall_s": s}
                         for i, (a, s) in enumerate(zip(accuracies, seconds))]}


def test_band_by_hand():
    runs = [record([0.4, 0.5, 0.7], [0, 60, 120]), record([0.4, 0.7, 0.6], [0, 120, 240]),
            record([0.4, 0.6], [0, 90])]  # a shorter run: only the steps all three reached count
    steps, means, halves = band(runs, "step")
    assert steps == [0, 50]
    assert means == pytest.approx([0.4, 0.6]) and halves == pytest.approx([0.0, 4.303 * 0.1 / 3 ** 0.5])
    minutes, _, _ = band(runs, "minutes")
    assert minutes == pytest.approx([0.0, (60 + 120 + 90) / 3 / 60])
    _, _, one = band(runs[:1], "step")
    assert one == [0.0, 0.0, 0.0]  # one seed has no interval: drawn without a band


def test_plot_writes_the_figure(tmp_path):
    path = plot_seed_bands({"a": [record([0.4, 0.5], [0, 60])]}, tmp_path / "f" / "bands.png", "t")
    assert path.exists() and path.stat().st_size > 0
