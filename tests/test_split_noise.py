"""The training-input noise of a data-parallel run: each process draws, for the rows it holds, exactly
what one process reading the whole training split draws, so a row's inputs do not depend on the number
of processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastzdc import ZN, ZP
from fastzdc.data import write_h5
from fastzdc.models.fm_distill import DistilledFlowMatching
from fastzdc.sampling.noise import SplitNoise, TrainingRows
from fastzdc.training import distributed as ddp
from fastzdc.training.first_stage import load_first_stage, make_kind
from fastzdc.training.loop import INPUT_BATCH, train

from .conftest import make_dataset
from .conftest import tiny_train_config as _cfg
from .test_fm_distill import TINY
from .test_vq import PRIOR_TINY, VQ_TINY


def held(total: int, batch: int, rank: int, size: int, parts: int) -> TrainingRows:
    """The rows process ``rank`` of ``size`` holds when the split is cut into ``parts`` (the loop's rows)."""
    return TrainingRows(ddp.held_positions(ddp.World(rank, size), parts, total), total, batch)


def local_draws(noise: SplitNoise, n: int, batch: int, axis: int) -> torch.Tensor:
    return torch.cat([noise.take(min(batch, n - a)) for a in range(0, n, batch)], axis)


@pytest.mark.parametrize("lead", [(), (2,)])
def test_each_process_gets_its_rows_of_the_one_process_draws(lead):
    total, batch, shape, axis = 37, 8, (3, 2), len(lead)
    one = local_draws(SplitNoise(5, shape, lead), total, batch, axis)  # one process, no row bookkeeping
    assert one.shape == (*lead, total, *shape)
    every = local_draws(SplitNoise(5, shape, lead, held(total, batch, 0, 1, 1)), total, batch, axis)
    assert torch.equal(every, one)  # a process holding every row draws exactly the plain draws
    for size, parts in [(2, 2), (2, 4), (3, 3)]:
        got = torch.zeros_like(one)
        for rank in range(size):
            rows = held(total, batch, rank, size, parts)
            mine = local_draws(SplitNoise(5, shape, lead, rows), len(rows.positions), batch, axis)
            got.index_copy_(axis, torch.from_numpy(rows.positions), mine)
        assert torch.equal(got, one), (size, parts)
    assert not torch.equal(local_draws(SplitNoise(6, shape, lead), total, batch, axis), one)  # the seed matters


def test_asking_beyond_the_held_rows_and_bad_rows_are_refused():
    noise = SplitNoise(0, (2,), rows=TrainingRows(np.array([1, 4]), 6, 4))
    assert noise.take(0).shape == (0, 2)
    assert noise.take(2).shape == (2, 2)
    with pytest.raises(ValueError, match="holds"):
        noise.take(1)
    for bad in (np.array([3, 3]), np.array([6]), np.array([-1, 2])):
        with pytest.raises(ValueError, match="ascending"):
            TrainingRows(bad, 6, 4)
    for bad in (np.array([1.0, 2.0]), [1, 2]):
        with pytest.raises(ValueError, match="integer"):
            TrainingRows(bad, 6, 4)


def _two_process_inputs(kind, net, first_stage, x, c, batch=8):
    """The inputs the rows get on one process, and assembled from two processes' shares."""
    n = len(c)
    batches = [(x[a : a + batch], c[a : a + batch]) for a in range(0, n, batch)]
    one = kind.training_inputs(net, iter(batches), first_stage, held(n, batch, 0, 1, 2))
    got = torch.zeros_like(one)
    for rank in range(2):
        rows = held(n, batch, rank, 2, 2)
        p = torch.from_numpy(rows.positions)
        xs, cs = x[p], c[p]
        part = kind.training_inputs(net, iter([(xs[a : a + batch], cs[a : a + batch]) for a in range(0, len(p), batch)]),
                                    first_stage, rows)
        got[p] = part
    return one, got


def test_fm_distill_targets_do_not_depend_on_the_number_of_processes(tmp_path, monkeypatch):
    data = tmp_path / "zn.h5"
    write_h5(make_dataset(60, ZN, seed=5), data)
    train(_cfg("fm", "zn", TINY, epochs=1), data, tmp_path / "teacher", progress=False)
    student = {"teacher": str(tmp_path / "teacher" / "best"), "teacher_steps": 2, "steps": 1}
    # the loop tells the kind where its rows sit: one process holds the whole split, in order
    seen = []
    real = DistilledFlowMatching.training_inputs

    def spy(self, net, batches, first_stage=None, rows=None):
        seen.append(rows)
        return real(self, net, batches, first_stage, rows)

    monkeypatch.setattr(DistilledFlowMatching, "training_inputs", spy)
    train(_cfg("fm-distill", "zn", student, epochs=1, batch_parts=2), data, tmp_path / "student", progress=False)
    assert len(seen) == 1 and seen[0].total == 42 and seen[0].batch == INPUT_BATCH  # 70 % of 60 rows
    assert np.array_equal(seen[0].positions, np.arange(42))
    kind = make_kind("fm-distill", ZN, student)
    net, teacher = kind.build(), load_first_stage(kind)
    c = torch.randn(21, 9)
    one, two = _two_process_inputs(kind, net, teacher, torch.zeros(21, 1, 44, 44), c)
    assert one.shape == (21, 2, 44, 44)
    torch.testing.assert_close(two, one, rtol=0, atol=1e-6)
    assert torch.equal(two[:, 0], one[:, 0])  # the noise itself is bit for bit the same


def test_vq_energy_draws_do_not_depend_on_the_number_of_processes(tmp_path):
    data = tmp_path / "zp.h5"
    write_h5(make_dataset(60, ZP, seed=6), data)
    train(_cfg("vq", "zp", {**VQ_TINY, "dec_cond_hidden": 8}, epochs=1), data, tmp_path / "vq", progress=False)
    train(_cfg("vq-prior", "zp", {**PRIOR_TINY, "vq": str(tmp_path / "vq" / "best")}, epochs=1), data, tmp_path / "prior",
          progress=False)
    kind = make_kind("vq-energy", ZP, {"draw_top_k": 8, "prior": str(tmp_path / "prior" / "best")})
    net, source = kind.build(), load_first_stage(kind)
    ds = make_dataset(21, ZP, seed=1)
    x = torch.log1p(torch.from_numpy(ds.responses.astype(np.float32)))[:, None]
    one, two = _two_process_inputs(kind, net, source, x, torch.randn(21, 9))
    assert torch.equal(two, one)
    t = kind.prior_kind.n_tokens()
    assert not torch.equal(one[:, :t], one[:, t : 2 * t])  # two independent draws per row
