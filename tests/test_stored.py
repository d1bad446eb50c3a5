"""stored: results of long runs shipped with the package, and consistent with themselves."""

import numpy as np
import pytest

from tms_tutorial import stored


def test_geometry_settings_hold_every_run_and_their_counts_follow_from_the_stored_dimensionalities():
    results = stored.load("geometry_settings")
    assert results["runs"], "no run stored"
    tolerance = results["tolerance"]
    for run in results["runs"]:
        assert [point["inverse_density"] for point in run["points"]] == results["inverse_density"]
        for point in run["points"]:
            best = point["best"]
            assert len(best["D"]) == len(best["norm"]) == run["n"] and len(point["fits"]) == run["fits"]
            learned = [d for d, norm in zip(best["D"], best["norm"]) if norm > 0.5]
            assert best["learned"] == len(learned)
            for name, level in results["levels"].items():
                # D is stored to 3 decimals; a value within 0.001 of the edge may count either way
                low = sum(abs(d - level) < tolerance - 0.001 for d in learned)
                high = sum(abs(d - level) < tolerance + 0.001 for d in learned)
                assert low <= best["levels"][name] <= high
            assert best["d_star"] == pytest.approx(run["m"] / sum(norm**2 for norm in best["norm"]), rel=0.01)
            lowest = min(point["fits"], key=lambda fit: fit["loss"])
            assert (lowest["d_star"], lowest["learned"], lowest["levels"]) == (best["d_star"], best["learned"],
                                                                             best["levels"])


def test_neuron_regimes_keep_the_best_fit_of_every_block_of_100():
    run = stored.load("neuron_regimes")
    assert [point["density"] for point in run["densities"]] == [0.5, 0.3, 0.2, 0.15, 0.12, 0.08, 0.05, 0.03, 0.01]
    for point in run["densities"]:
        loss = point["loss"]
        assert len(loss) == run["fits"] == 1000 and len(point["blocks"]) == run["fits"] // run["block"]
        for b, block in enumerate(point["blocks"]):
            first = b * run["block"]
            assert first <= block["index"] < first + run["block"]
            assert block["loss"] == pytest.approx(loss[block["index"]], abs=1e-6)
            assert block["loss"] == pytest.approx(min(loss[first:first + run["block"]]), abs=1e-6)
            assert len(block["W"]) == run["n_hidden"] and len(block["W"][0]) == run["n_features"]
            assert len(block["b"]) == run["n_features"]


def test_computation_sweep_keeps_each_densitys_lowest_loss_fit_of_every_start_and_learning_rate():
    run = stored.load("computation_sweep")
    fits = 2 * run["seeds"] * len(run["learning_rates"])
    assert run["fits"] == [{"init": init, "lr": lr} for lr in run["learning_rates"]
                           for init in ["xavier"] * run["seeds"] + ["abs"] * run["seeds"]]
    assert [point["density"] for point in run["densities"]] == [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001]
    n, m = run["n_features"], run["n_hidden"]
    for point in run["densities"]:
        assert len(point["loss"]) == fits and point["best"] == min(range(fits), key=lambda k: point["loss"][k])
        assert len(point["W1"]) == m and len(point["W1"][0]) == n
        assert len(point["W2"]) == n and len(point["W2"][0]) == m and len(point["b"]) == n
        assert len(point["response"]) == fits and len(point["response"][0]) == n
        snapshots = point["snapshot_response"]
        assert len(snapshots) == fits and len(snapshots[0]) == len(run["snapshot_steps"])
        assert len(snapshots[0][0]) == m // 2  # the n_hidden // 2 most important features
        # the last snapshot is the trained model: its responses are the final ones, rounded
        last = [value for pair in snapshots[point["best"]][-1] for value in pair]
        final = [value for pair in point["response"][point["best"]][:m // 2] for value in pair]
        assert last == pytest.approx(final, abs=0.006)
    for procedure in run["procedures"].values():
        assert [p["density"] for p in procedure["points"]] == [1.0, 0.3]
        assert all(len(p["loss"]) == 2 * run["seeds"] for p in procedure["points"])


def test_penalty_sweep_counts_follow_from_its_fits():
    run = stored.load("penalty_sweep")
    assert run["lambdas"][0] == 0 and len(run["points"]) == len(run["lambdas"])
    for point, lam in zip(run["points"], run["lambdas"]):
        assert point["lambda"] == lam and len(point["superposed"]) == run["fits"] == len(point["total_loss"])
        assert point["fits_superposed"] == sum(count > 0 for count in point["superposed"])
        best = min(range(run["fits"]), key=lambda k: point["total_loss"][k])
        assert point["best"] == best and point["best_superposed"] == point["superposed"][best]


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="name must be one of"):
        stored.load("../pyproject")


def test_compressed_sensing_counts_follow_from_the_stored_norms():
    results = stored.load("compressed_sensing")
    assert [run["n"] for run in results["runs"]] == [400, 400, 1000]
    for run in results["runs"]:
        assert len(run["points"]) == 13 and run["points"][0]["density"] == 1.0
        assert run["points"][-1]["density"] == pytest.approx(0.001)
        for point in run["points"]:
            assert len(point["norms"]) == run["n"]
            # norms are stored to 3 decimals; one within 0.001 of 0.5 may count either way
            low = sum(norm > 0.501 for norm in point["norms"])
            high = sum(norm > 0.499 for norm in point["norms"])
            assert low <= point["represented"] <= high
            assert point["inverse_d_star"] == pytest.approx(sum(v * v for v in point["norms"]) / run["m"], rel=0.01)


def test_geometry_long_counts_follow_from_the_stored_dimensionalities_and_the_table_fits_the_page():
    run_file = stored.load("geometry_long")
    levels, tolerance = run_file["levels"], run_file["tolerance"]
    for run in run_file["runs"]:
        assert [str(step) for step in run["checkpoints"]] == list(run["points"][0]["checkpoints"])
        for point in run["points"]:
            for step, summary in point["checkpoints"].items():
                fits = summary["fits"]
                assert len(fits) == run["fits"] and len(summary["best_D"]) == run["n"]
                assert summary["best"] == min(range(len(fits)), key=lambda k: fits[k]["loss"])
                best = fits[summary["best"]]
                D = np.array(summary["best_D"])
                # a learned feature's D_i is above 0.04 here, so the counts near each level can be re-derived
                # only up to which features are learned; the counts never exceed the learned features
                for name, value in levels.items():
                    assert best["levels"][name] <= min(best["learned"], int((abs(D - value) < tolerance + 6e-4).sum()))  # D rounded to 3 places
        table = stored.level_table(run, run["checkpoints"][-1], levels)
        assert max(len(line) for line in table.splitlines()) <= 80
    with pytest.raises(ValueError, match="step"):
        stored.level_table(run_file["runs"][0], 7, levels)
