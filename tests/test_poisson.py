"""Poisson photon counts drawn from given uniforms (the latent FM's and VQ-GAN's `poisson` sampler option)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from scipy import stats

from fastzdc.sampling.poisson import EXACT_BELOW, counts_log1p, poisson_from_uniform

N = 200_000


@pytest.mark.parametrize("lam", [0.02, 0.3, 1.0, 2.5, EXACT_BELOW - 0.1, EXACT_BELOW + 0.1, 12.0, 80.0])
def test_counts_follow_the_poisson_law(lam):
    u = torch.rand(N, generator=torch.Generator().manual_seed(1))
    n = poisson_from_uniform(torch.full((N,), lam), u).numpy()
    assert np.array_equal(n, np.round(n)) and n.min() >= 0
    ks = np.arange(0, int(3 * lam) + 12)
    tv = 0.5 * np.abs(np.array([np.mean(n == k) for k in ks]) - stats.poisson.pmf(ks, lam)).sum()
    assert tv < (0.006 if lam < EXACT_BELOW else 0.012)  # exact branch: sampling noise only
    assert n.mean() == pytest.approx(lam, rel=0.01, abs=0.002)
    assert n.var() == pytest.approx(lam, rel=0.02, abs=0.002)


def test_poisson_lights_fewer_fibres_than_stochastic_rounding_at_the_same_mean():
    """P(n >= 1) = 1 - exp(-lam) < lam: the dither lights too many faint fibres and never exceeds ceil(lam)."""
    u = torch.rand(1, 1, 300, 300, generator=torch.Generator().manual_seed(2))
    x = torch.log1p(torch.full_like(u, 0.4))
    pois = torch.expm1(counts_log1p(x, u, poisson=True)).round()
    dith = torch.expm1(counts_log1p(x, u, poisson=False)).round()
    assert float((pois > 0).float().mean()) == pytest.approx(1 - np.exp(-0.4), abs=0.005)
    assert float((dith > 0).float().mean()) == pytest.approx(0.4, abs=0.005)
    assert float(pois.max()) >= 3 and float(dith.max()) == 1
    assert float(pois.mean()) == pytest.approx(float(dith.mean()), abs=0.01)


def test_counts_are_a_monotone_function_of_the_uniform():
    lam = torch.full((1000,), 3.7)
    u = torch.linspace(0, 0.999, 1000)
    n = poisson_from_uniform(lam, u)
    assert torch.all(n[1:] >= n[:-1]) and torch.equal(n, poisson_from_uniform(lam, u.clone()))
    assert float(poisson_from_uniform(torch.zeros(5), torch.rand(5)).abs().sum()) == 0


def test_onnx_export_gives_the_same_counts(tmp_path):
    class Counts(torch.nn.Module):
        def forward(self, x, u):
            return counts_log1p(x, u, poisson=True)

    path = tmp_path / "counts.onnx"
    x = torch.log1p(torch.rand(4, 1, 44, 44) * 30)
    u = torch.rand(4, 1, 44, 44)
    torch.onnx.export(Counts().eval(), (x, u), str(path), input_names=["x", "u"], output_names=["n"], dynamo=True, verbose=False)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x.numpy(), "u": u.numpy()})[0]
    want = Counts()(x, u).numpy()
    # a uniform on a CDF step edge may fall either side in another summation order: allow a few fibres
    assert np.mean(np.abs(np.expm1(got) - np.expm1(want)) > 0.5) < 1e-3


def test_eager_and_traced_paths_give_the_same_counts(monkeypatch):
    lam = torch.cat([torch.rand(20000) * 0.05, torch.rand(5000) * 12, torch.rand(100) * 300]).reshape(5, 1, -1)
    u = torch.rand(lam.shape, generator=torch.Generator().manual_seed(5))
    eager = poisson_from_uniform(lam, u)
    monkeypatch.setattr(torch.compiler, "is_exporting", lambda: True)
    assert torch.equal(poisson_from_uniform(lam, u), eager)
