"""threads: the quota read, the choice by timing, and that the thread count changes no number."""

import pytest
import torch

from tms_tutorial import ComputationModel, NeuronModel, SignedFeatures, SparseFeatures, ToyModel, train
from tms_tutorial.threads import ThreadChooser, available_cpus, cpu_quota


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cpu_quota_reads_cgroups_v2_and_v1(tmp_path):
    write(tmp_path / "v2" / "cpu.max", "150000 100000\n")
    assert cpu_quota(str(tmp_path / "v2")) == 1.5
    write(tmp_path / "v2max" / "cpu.max", "max 100000\n")
    assert cpu_quota(str(tmp_path / "v2max")) is None
    write(tmp_path / "v1" / "cpu" / "cpu.cfs_quota_us", "200000\n")
    write(tmp_path / "v1" / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert cpu_quota(str(tmp_path / "v1")) == 2.0
    write(tmp_path / "v1none" / "cpu" / "cpu.cfs_quota_us", "-1\n")
    write(tmp_path / "v1none" / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert cpu_quota(str(tmp_path / "v1none")) is None
    assert cpu_quota(str(tmp_path / "nothing")) is None


def test_available_cpus_respects_a_quota_below_the_cores(tmp_path):
    write(tmp_path / "cpu.max", "50000 100000\n")  # half a CPU: still one thread
    assert available_cpus(str(tmp_path)) == 1
    write(tmp_path / "cpu.max", "max 100000\n")
    assert available_cpus(str(tmp_path)) >= 1


class FakeClock:
    """Each step costs cost[threads] seconds of fake time, at the thread count torch has now."""

    def __init__(self, cost):
        self.cost, self.now = cost, 0.0

    def __call__(self):
        return self.now

    def run(self, chooser, steps):
        used = []
        for _ in range(steps):
            threads = torch.get_num_threads()
            used.append(threads)
            self.now += self.cost[threads]
            chooser.step_done()
        return used


@pytest.mark.parametrize("fast_threads, slow_threads, cost", [(1, 2, {1: 0.01, 2: 0.05}), (2, 1, {1: 0.015, 2: 0.01})])
def test_the_chooser_settles_on_the_faster_count_and_restores_torchs(fast_threads, slow_threads, cost):
    before = torch.get_num_threads()
    clock = FakeClock(cost)
    with ThreadChooser(most=2, clock=clock) as chooser:
        used = clock.run(chooser, 3000)
    assert torch.get_num_threads() == before
    assert used[-1] == fast_threads
    # Trials of the slower count grow rare: most steps ran on the faster one.
    assert used.count(fast_threads) > 0.9 * len(used)
    assert used[-1000:].count(slow_threads) < 50


def test_the_chooser_follows_a_change_in_contention():
    clock = FakeClock({1: 0.015, 2: 0.01})  # quiet: two threads win
    with ThreadChooser(most=2, clock=clock) as chooser:
        clock.run(chooser, 500)
        assert torch.get_num_threads() == 2
        clock.cost = {1: 0.015, 2: 0.06}  # another process takes a core
        used = clock.run(chooser, 1500)
    assert used[-1] == 1


def test_fixed_threads_are_used_and_checked():
    before = torch.get_num_threads()
    model = ToyModel(5, 2, 2)
    seen = []
    train(model, SparseFeatures(5, 0.1), steps=20, progress=False, threads=1,
          callback=lambda step, m, loss: seen.append(torch.get_num_threads()))
    assert seen == [1, 1] and torch.get_num_threads() == before
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="threads"):
            train(ToyModel(5, 2, 2), SparseFeatures(5, 0.1), steps=5, progress=False, threads=bad)


ROUTES = {
    "decomposed (n <= 4)": lambda: (ToyModel(3, 1, 4, seed=1), SparseFeatures(3, torch.tensor([1.0, 0.3, 0.1, 0.03]))),
    "dense": lambda: (ToyModel(40, 10, 3, seed=1), SparseFeatures(40, torch.tensor([1.0, 0.5, 0.2]))),
    "active entries": lambda: (ToyModel(200, 20, 3, seed=1), SparseFeatures(200, torch.tensor([0.01, 0.003, 0.001]))),
    "neuron": lambda: (NeuronModel(10, 5, 30, seed=1), SparseFeatures(10, torch.logspace(0, -2, 30))),
    "computation": lambda: (ComputationModel(30, 10, 3, seed=1), SignedFeatures(30, torch.tensor([1.0, 0.1, 0.01]))),
    "autograd": lambda: (ComputationModel(30, 10, 3, seed=1, l1_coefficient=0.01),
                         SignedFeatures(30, torch.tensor([1.0, 0.1, 0.01]))),
}


@pytest.mark.parametrize("route", ROUTES)
def test_the_thread_count_changes_no_number(route):
    weights = []
    for threads in (1, 2):
        model, features = ROUTES[route]()
        history = train(model, features, steps=60, batch_size=512, progress=False, threads=threads)
        weights.append([p.detach().clone() for p in model.parameters()] + [torch.from_numpy(history.loss)])
    assert all(torch.equal(a, b) for a, b in zip(*weights))


def test_a_single_instance_trains_on_one_thread_so_its_numbers_do_not_depend_on_the_count():
    """With one matrix per product BLAS splits the sums over threads: the last bits would vary with the count."""
    features = SparseFeatures(40, 0.02)
    chosen, pinned = ToyModel(40, 10, 1, seed=0), ToyModel(40, 10, 1, seed=0)
    seen = []
    train(chosen, features, steps=60, lr=1e-2, progress=False,
          callback=lambda step, m, loss: seen.append(torch.get_num_threads()))
    train(pinned, features, steps=60, lr=1e-2, progress=False, threads=1)
    assert set(seen) == {1} and torch.equal(chosen.W, pinned.W)
