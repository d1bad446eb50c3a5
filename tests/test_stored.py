"""stored: results of long runs shipped with the package, and consistent with themselves."""

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


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="name must be one of"):
        stored.load("../pyproject")
