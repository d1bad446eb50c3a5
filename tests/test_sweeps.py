"""sweeps: grids laid out along the instances, and reading off what each grid point learned."""

import numpy as np
import pytest
import torch

from tms_tutorial import sweeps


def test_phase_grid_features_lay_out_density_then_importance_then_fits():
    features = sweeps.phase_grid_features(3, [1.0, 0.1], [0.5, 2.0, 4.0], fits=2)
    p = features.probability(12)
    importance = features.importance_matrix(12)
    k = (1 * 3 + 2) * 2 + 1  # density 0.1, importance 4.0, second fit
    assert torch.allclose(p[k], torch.full((3,), 0.1))
    assert importance[k].tolist() == [1.0, 1.0, 4.0]
    assert torch.equal(p[0], p[1]) and torch.equal(importance[0], importance[1])  # fits of one point agree


def test_learned_phases_best_majority_and_share():
    candidates = ("a", "b")
    # point 0: best fit says "b", the rest mostly "a"; point 1: the highest-loss fit is dropped before voting
    names = np.array(["a", "b", "a", "a", "b", "b", "a", "a"])
    losses = torch.tensor([0.3, 0.1, 0.2, 0.4, 0.2, 0.1, 0.9, 0.8])
    best, majority, share = sweeps.learned_phases(names, losses, (1, 2), candidates)
    assert best.tolist() == [[1, 1]]
    assert majority.tolist() == [[0, 1]]  # point 1 keeps b, b, a after dropping the 0.9 fit
    assert np.allclose(share, [[2 / 3, 2 / 3]])
    with pytest.raises(ValueError, match="multiple"):
        sweeps.learned_phases(names[:7], losses[:7], (1, 2), candidates)


def test_fit_feature_sets_keeps_anticorrelated_pairs_antipodal():
    W = sweeps.fit_feature_sets(4, 2, [0.02], fits=2, steps=4000, anticorrelated=[[0, 1], [2, 3]],
                                eval_batch_size=20_000)
    assert W.shape == (1, 2, 4)
    unit = W[0] / W[0].norm(dim=0)
    assert (unit[:, 0] @ unit[:, 1]).item() < -0.9 and (unit[:, 2] @ unit[:, 3]).item() < -0.9


def test_feature_set_fits_returns_every_fit_and_fit_feature_sets_the_lowest_loss_one():
    W, loss = sweeps.feature_set_fits(4, 2, [0.05, 0.2], fits=3, steps=200, correlated=[[0, 1]], eval_batch_size=5_000)
    assert W.shape == (2, 3, 2, 4) and loss.shape == (2, 3)
    best = sweeps.fit_feature_sets(4, 2, [0.05, 0.2], fits=3, steps=200, correlated=[[0, 1]], eval_batch_size=5_000)
    assert torch.equal(best, W[torch.arange(2), loss.argmin(dim=1)])


def test_computation_sweep_lays_out_both_starts_and_keeps_each_densitys_best_fit():
    run = sweeps.computation_sweep([1.0, 0.2], n_features=6, n_hidden=4, seeds=2, steps=200, lr=1e-2)
    assert run["init"] == ["xavier", "xavier", "abs", "abs"]
    assert run["W1"].shape == (2, 4, 4, 6) and run["W2"].shape == (2, 4, 6, 4) and run["loss"].shape == (2, 4)
    assert run["response"].shape == (2, 4, 6, 2)
    assert (run["loss"][1] < run["loss"][0]).all()  # sparser features, less to get wrong
    summary = sweeps.summarize_computation_sweep(run, [1.0, 0.2], {"steps": 200})
    assert summary["steps"] == 200 and summary["init"] == run["init"]
    for k, point in enumerate(summary["densities"]):
        assert point["best"] == int(run["loss"][k].argmin())
        assert torch.allclose(torch.tensor(point["W1"]), run["W1"][k, point["best"]], atol=1e-4)
        assert len(point["loss"]) == 4 and len(point["response"]) == 4


def test_computation_sweep_keeps_snapshot_responses_and_the_merge_picks_the_best_of_every_run():
    kwargs = dict(n_features=6, n_hidden=4, seeds=1, steps=200, resample_every=50, resample_until=150,
                  snapshots=[0, 100, 200])
    runs = [sweeps.computation_sweep([1.0, 0.2], lr=lr, **kwargs) for lr in (1e-2, 3e-3)]
    assert runs[0]["snapshot_response"].shape == (2, 2, 3, 6, 2)
    # the last snapshot is the trained model
    assert torch.allclose(runs[0]["snapshot_response"][:, :, -1], runs[0]["response"], atol=1e-6)
    summaries = [sweeps.summarize_computation_sweep(run, [1.0, 0.2], {}) for run in runs]
    merged = sweeps.merge_computation_sweeps(summaries)
    for k, point in enumerate(merged):
        losses = runs[0]["loss"][k].tolist() + runs[1]["loss"][k].tolist()
        assert point["loss"] == pytest.approx(losses, abs=1e-7) and len(point["snapshot_response"]) == 4
        best = point["best"]
        assert best == min(range(4), key=losses.__getitem__)
        source = runs[best // 2]
        assert torch.allclose(torch.tensor(point["W1"]), source["W1"][k, best % 2], atol=1e-4)
    with pytest.raises(ValueError, match="same densities"):
        sweeps.merge_computation_sweeps([summaries[0], sweeps.summarize_computation_sweep(runs[1], [1.0, 0.3], {})])
    with pytest.raises(ValueError, match="both be given"):
        sweeps.computation_sweep([1.0], n_features=6, n_hidden=4, steps=10, resample_every=5, resample_until=None)
