"""VQ-GAN: the cosine EMA quantiser, the GPT's KV cache, token sampling filters, the vq and vq-prior kinds
through the loop (resume, self-contained checkpoints, seeds) and the CLI (--sample-opt, bad options)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastzdc import ZN, ZP, FastZDCError
from fastzdc.checkpoint import STATE, WEIGHTS, load_tensors
from fastzdc.data import write_h5
from fastzdc.inference import load_generator
from fastzdc.models import get_kind
from fastzdc.nn.cond_tokens import FeatureTokenizer
from fastzdc.nn.gpt import GPT
from fastzdc.nn.quantize import VectorQuantizer
from fastzdc.sampling.categorical import filtered_probs, inverse_cdf, normal_to_uniform, top_k_keep, top_p_keep
from fastzdc.sampling.noise import NoiseStream
from fastzdc.training.first_stage import make_kind
from fastzdc.training.loop import train

from .conftest import make_dataset
from .conftest import tiny_train_config as _cfg

VQ_TINY = {"enc_widths": [4, 8, 8], "enc_blocks": [1, 1], "dec_widths": [4, 8], "dec_blocks": [0, 1],
           "disc_widths": [4, 4, 8], "n_codes": 32, "code_dim": 4}
PRIOR_TINY = {"d_model": 16, "n_layers": 1, "n_heads": 2, "n_kv_heads": 1, "d_ff": 32, "cond_hidden": 16}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("vq")
    zn, zp = root / "zn.h5", root / "zp.h5"
    write_h5(make_dataset(160, ZN, seed=5), zn)
    write_h5(make_dataset(160, ZP, seed=6), zp)
    vq = train(_cfg("vq", "zp", VQ_TINY, epochs=1), zp, root / "vq-zp", progress=False)
    return {"root": root, "zn": zn, "zp": zp, "vq_zp": root / "vq-zp" / "best", "vq_history": vq["history"]}


def _quantizer(codes: torch.Tensor, count: float = 100.0) -> VectorQuantizer:
    vq = VectorQuantizer(codes.shape[0], codes.shape[1], decay=0.9, dead_threshold=1.0)
    with torch.no_grad():
        vq.codebook.copy_(F.normalize(codes, dim=1))
        vq.ema_sum.copy_(F.normalize(codes, dim=1) * count)
        vq.ema_count.fill_(count)
    return vq


def _grid(vectors: torch.Tensor) -> torch.Tensor:
    """``(N, D)`` vectors as a ``(1, D, 1, N)`` latent map."""
    return vectors.t()[None, :, None, :]


# ---------------------------------------------------------------------------- quantiser
def test_quantizer_picks_the_code_of_largest_cosine_whatever_the_length():
    codes = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.8]])
    vq = _quantizer(codes).eval()
    z = torch.tensor([[10.0, 1.0], [0.05, 0.1], [-3.0, 0.2], [1.0, 1.1], [0.1, -2.0]])
    st, idx, _ = vq(_grid(z))
    assert idx.flatten().tolist() == [0, 3, 2, 3, 0]
    assert torch.equal(idx.flatten(), vq.nearest(F.normalize(z * 7.0, dim=1)))  # length does not matter
    assert torch.allclose(st[0, :, 0].t(), F.normalize(codes, dim=1)[idx.flatten()], atol=1e-6)
    assert torch.equal(vq.codebook, F.normalize(codes, dim=1))  # eval: no update


def test_quantizer_straight_through_gradient_reaches_the_encoding():
    vq = _quantizer(torch.randn(8, 3, generator=torch.Generator().manual_seed(0)))
    z = torch.randn(2, 3, 4, 4, requires_grad=True)
    st, _, commit = vq(z)
    (st.sum() + commit).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert commit.item() > 0


def test_ema_update_moves_the_used_code_towards_its_vectors_and_leaves_the_others():
    codes = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    vq = _quantizer(codes).train()
    target = F.normalize(torch.tensor([1.0, 0.5, 0.0]), dim=0)
    z = target + 0.01 * torch.randn(50, 3, generator=torch.Generator().manual_seed(1))
    before = float(vq.codebook[0] @ target)
    for _ in range(20):
        _, idx, _ = vq(_grid(z))
        assert (idx == 0).all()
    assert float(vq.codebook[0] @ target) > before + 0.05
    assert torch.allclose(vq.codebook[1:], codes[1:], atol=1e-6)
    assert vq.usage_stats() == {"usage": pytest.approx(1 / 3), "perplexity": pytest.approx(1.0)}


def test_dead_codes_are_revived_at_poorly_quantised_batch_vectors_reproducibly():
    codes = torch.eye(4)
    # 90 cells sit exactly on the live code 0 (an empty image region), 10 are spread out
    spread = F.normalize(torch.randn(10, 4, generator=torch.Generator().manual_seed(2)), dim=1)
    z = torch.cat([codes[:1].expand(90, 4), spread])

    def step(seed):
        vq = _quantizer(codes).train()
        with torch.no_grad():
            vq.ema_count[3] = 0.0  # code 3 is dead
        vq(_grid(z), torch.Generator().manual_seed(seed))
        return vq

    runs = [step(seed) for seed in range(6)]
    assert torch.equal(runs[0].codebook, step(0).codebook)  # the step's generator decides
    for vq in runs:  # revived on one of the spread cells, never on the cells code 0 already serves
        assert float((spread @ vq.codebook[3]).max()) == pytest.approx(1.0, abs=1e-5)
        assert float(vq.ema_count[3]) >= 1.0
        assert torch.allclose(vq.codebook[:3], codes[:3], atol=0.2)
    assert len({tuple(vq.codebook[3].tolist()) for vq in runs}) > 1
    fresh = VectorQuantizer(16, 4).train()  # every count starts at 0: the first batch initialises all codes
    fresh(_grid(spread), torch.Generator().manual_seed(0))
    assert all(float((spread @ e).max()) > 0.999 for e in fresh.codebook)


def test_quantizer_runs_in_float32_under_bfloat16_autocast():
    vq = _quantizer(torch.randn(16, 4, generator=torch.Generator().manual_seed(3))).train()
    z = torch.randn(2, 4, 3, 3).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        st, idx, commit = vq(z, torch.Generator().manual_seed(0))
    assert st.dtype == torch.float32 and commit.dtype == torch.float32
    assert vq.codebook.dtype == vq.ema_sum.dtype == vq.ema_count.dtype == torch.float32
    assert idx.shape == (2, 3, 3)


# ---------------------------------------------------------------------------- GPT and token sampling
@pytest.mark.parametrize("n_prefix,kv", [(1, 4), (2, 1), (3, 2)])
def test_kv_cached_decoding_gives_the_logits_of_the_full_forward_pass(n_prefix, kv):
    torch.manual_seed(0)
    gpt = GPT(40, n_prefix, 9, d_model=16, n_layers=2, n_heads=4, n_kv_heads=kv, d_ff=32).eval()
    prefix = torch.randn(3, n_prefix, 16)
    seen = []
    gen = torch.Generator().manual_seed(1)

    def pick(logits, i):
        seen.append(logits)
        return torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)[:, 0]

    with torch.no_grad():
        tokens = gpt.generate(prefix, pick)
        full = gpt(prefix, tokens)
    assert tokens.shape == (3, 9) and len(seen) == 9
    assert torch.allclose(torch.stack(seen, 1), full, atol=1e-5)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # the cache takes the keys' dtype
        assert gpt.generate(prefix, lambda logits, i: torch.argmax(logits, -1)).shape == (3, 9)
    tokens2 = tokens.clone()
    tokens2[:, 5] = (tokens2[:, 5] + 1) % 40
    with torch.no_grad():
        assert torch.equal(gpt(prefix, tokens2)[:, :6], full[:, :6])  # causal: later tokens never leak back


def test_top_k_and_top_p_masks():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0, -1.0], [5.0, 4.0, 3.0, 2.0, 1.0]])
    assert top_k_keep(logits, 2).tolist() == [[False, True, False, True, False], [True, True, False, False, False]]
    assert top_k_keep(logits, 9).all()
    probs = torch.tensor([[0.1, 0.5, 0.15, 0.25, 0.0]])
    assert top_p_keep(probs, 0.5).tolist() == [[False, True, False, False, False]]
    assert top_p_keep(probs, 0.6).tolist() == [[False, True, False, True, False]]
    assert top_p_keep(probs, 0.9).tolist() == [[False, True, True, True, False]]
    assert top_p_keep(probs, 0.01).sum() == 1  # the most probable entry is always kept
    p = filtered_probs(torch.log(probs + 1e-12), temperature=1.0, top_k=3, top_p=0.7)
    assert (p[0, [0, 4]] == 0).all() and (p[0, [1, 3]] > 0).all()
    assert torch.allclose(filtered_probs(logits, temperature=2.0), torch.softmax(logits / 2, -1))


def test_inverse_cdf_draws_each_token_with_its_probability_and_never_an_excluded_one():
    probs = torch.tensor([0.0, 0.2, 0.0, 0.5, 0.3, 0.0]).expand(200_000, 6)
    u = normal_to_uniform(torch.randn(200_000, generator=torch.Generator().manual_seed(0)))
    idx = inverse_cdf(probs, u)
    freq = torch.bincount(idx, minlength=6).double() / len(idx)
    assert torch.allclose(freq, probs[0].double(), atol=0.005)
    edges = inverse_cdf(probs[:3], torch.tensor([0.0, 1.0, 0.2]))
    assert edges.tolist() == [1, 4, 3]  # u = 0 and u = 1 stay on tokens of nonzero probability


# ---------------------------------------------------------------------------- kinds through the loop
def test_vq_training_records_codebook_usage_and_resumes_exactly(tmp_path, data):
    hist = data["vq_history"]
    assert 0 < hist[0]["usage"] <= 1 and 1 <= hist[0]["perplexity"] <= 32
    best = json.loads((data["vq_zp"] / "config.json").read_text())
    assert best["kind"] == "vq" and {"usage", "perplexity", "val_w"} <= set(best["metrics"])
    cfg = _cfg("vq", "zn", VQ_TINY)
    full = train(cfg, data["zn"], tmp_path / "full", progress=False)
    train(cfg, data["zn"], tmp_path / "part", stop_after=1, progress=False)
    resumed = train(cfg, data["zn"], tmp_path / "part", resume=True, progress=False)
    assert resumed["history"] == full["history"]
    for name in (WEIGHTS, STATE):
        a, b = load_tensors(tmp_path / "full" / "last" / name), load_tensors(tmp_path / "part" / "last" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    w = load_tensors(tmp_path / "full" / "last" / WEIGHTS)
    s = load_tensors(tmp_path / "full" / "last" / STATE)
    assert torch.equal(w["quantizer.codebook"], s["net.quantizer.codebook"])  # the EMA net has the trained codebook
    with pytest.raises(FastZDCError, match="train the transformer prior"):
        load_generator(tmp_path / "full").generate(make_dataset(2, ZN).conditions)


def test_prior_rejects_a_missing_or_foreign_first_stage(tmp_path, data):
    with pytest.raises(FastZDCError, match="vq-prior needs a trained VQ autoencoder"):
        make_kind("vq-prior", ZP, PRIOR_TINY)
    with pytest.raises(FastZDCError, match="trained on ZP"):
        make_kind("vq-prior", ZN, {**PRIOR_TINY, "vq": str(data["vq_zp"])})
    train(_cfg("vae", "zp", {k: v for k, v in VQ_TINY.items() if k not in ("n_codes", "code_dim")}, epochs=1),
          data["zp"], tmp_path / "vae", progress=False)
    with pytest.raises(FastZDCError, match="must be a vq checkpoint"):
        make_kind("vq-prior", ZP, {**PRIOR_TINY, "vq": str(tmp_path / "vae")})


def test_prior_checkpoint_is_self_contained_and_seeded(tmp_path, data):
    vq = tmp_path / "vq"
    shutil.copytree(data["vq_zp"], vq)
    train(_cfg("vq-prior", "zp", {**PRIOR_TINY, "vq": str(vq)}), data["zp"], tmp_path / "prior", progress=False)
    w = load_tensors(tmp_path / "prior" / "best" / WEIGHTS)
    vq_w = load_tensors(vq / WEIGHTS)
    assert torch.equal(w["codebook"], vq_w["quantizer.codebook"])
    assert all(torch.equal(w[k], v) for k, v in vq_w.items() if k.startswith("decoder."))
    shutil.rmtree(vq)  # the VQ checkpoint is not needed any more
    gen = load_generator(tmp_path / "prior")
    assert gen.kind.noise_shape() == (2, 14, 8)
    cond = make_dataset(12, ZP, seed=9).conditions
    a, b = gen.generate(cond, seed=4, batch_size=5), gen.generate(cond, seed=4, batch_size=12)
    assert a.shape == (12, 56, 30) and a.dtype == np.uint16 and np.array_equal(a, b)
    assert not np.array_equal(a, gen.generate(cond, seed=5))
    # top_k = 1 is greedy decoding: the token noise no longer matters
    c = torch.from_numpy(gen.scaler.transform(cond))
    n1, n2 = NoiseStream(1, (2, 14, 8)).rows(0, 12), NoiseStream(2, (2, 14, 8)).rows(0, 12)
    n2[:, 1] = n1[:, 1]
    greedy = [gen.generate_log(c, n, top_k=1) for n in (n1, n2)]
    assert torch.equal(greedy[0], greedy[1])
    assert not torch.equal(gen.generate_log(c, n1), gen.generate_log(c, n2))


def test_conditional_vq_decoder_uses_the_particle_through_training_and_the_prior(tmp_path, data):
    kind = get_kind("vq")(ZP, {**VQ_TINY, "dec_cond_hidden": 8})
    net = kind.build()
    idx = torch.randint(0, 32, (3, 14, 8))
    c = torch.randn(3, 9)
    assert torch.equal(net.decode_tokens(idx, c), net.decode_tokens(idx, c + 1))  # zero-initialised: starts unconditional
    torch.nn.init.normal_(net.decoder.cond_map[-1].weight, std=0.3)
    assert not torch.allclose(net.decode_tokens(idx, c), net.decode_tokens(idx, c + 1))
    with pytest.raises(ValueError, match="conditional"):
        net.decode_tokens(idx)
    train(_cfg("vq", "zp", {**VQ_TINY, "dec_cond_hidden": 8}, epochs=1), data["zp"], tmp_path / "vq", progress=False)
    train(_cfg("vq-prior", "zp", {**PRIOR_TINY, "vq": str(tmp_path / "vq" / "best")}, epochs=1), data["zp"], tmp_path / "prior",
          progress=False)
    w = load_tensors(tmp_path / "prior" / "best" / WEIGHTS)
    assert any(k.startswith("decoder.cond_map.") for k in w)  # the prior samples with the conditional decoder
    gen = load_generator(tmp_path / "prior")
    cond = make_dataset(6, ZP, seed=9).conditions
    assert gen.generate(cond, seed=4).shape == (6, 56, 30)


def test_feature_tokenizer_keeps_the_particle_and_is_seeded():
    # features on 8 clusters: 2 tokens of 16 codes must tell them apart (reconstruction far below
    # the features' variance) and the same seed gives the same tokenizer
    centres = torch.randn(8, 9) * 2
    cond = centres[torch.arange(800) % 8] + 0.05 * torch.randn(800, 9)
    a, b = FeatureTokenizer(n_tokens=2, n_codes=16, code_dim=4, hidden=32), FeatureTokenizer(n_tokens=2, n_codes=16, code_dim=4, hidden=32)
    report = a.fit(cond, steps=400, batch_size=128, seed=1)
    b.fit(cond, steps=400, batch_size=128, seed=1)
    assert report["mse"] < 0.1 * float(cond.var(0).mean())
    assert torch.equal(a.tokens(cond), b.tokens(cond))
    assert len({tuple(t) for t in a.tokens(centres).tolist()}) == 8
    assert not any(p.requires_grad for p in a.parameters())


def test_prior_with_tokenised_features_trains_resumes_and_samples(tmp_path, data):
    model = {**PRIOR_TINY, "vq": str(data["vq_zp"]), "cond_tokens": 2, "cond_codes": 16, "tokenizer_steps": 50}
    logs: list[str] = []
    full = train(_cfg("vq-prior", "zp", model), data["zp"], tmp_path / "full", progress=False, log=logs.append)
    assert any(line.startswith("first stage: tokenizer_mse") for line in logs)
    train(_cfg("vq-prior", "zp", model), data["zp"], tmp_path / "part", progress=False, stop_after=1)
    part = train(_cfg("vq-prior", "zp", model), data["zp"], tmp_path / "part", progress=False, resume=True)
    assert part["best_val_w"] == full["best_val_w"]
    w, w2 = load_tensors(tmp_path / "full" / "last" / WEIGHTS), load_tensors(tmp_path / "part" / "last" / WEIGHTS)
    assert any(k.startswith("prefix.tokenizer.quantizer.codebook") for k in w)
    assert all(torch.equal(v, w2[k]) for k, v in w.items())
    config = json.loads((tmp_path / "full" / "best" / "config.json").read_text())
    assert config["inputs_report"]["tokenizer_mse"] >= 0
    gen = load_generator(tmp_path / "full")
    cond = make_dataset(6, ZP, seed=9).conditions
    assert np.array_equal(gen.generate(cond, seed=4), gen.generate(cond, seed=4, batch_size=2))


@pytest.mark.parametrize("opts,msg", [({"top_k": 0}, "top_k must be an integer >= 1"),
                                      ({"temperature": 0.0}, "temperature must be a number > 0"),
                                      ({"top_p": 1.5}, r"top_p must be a number in \(0, 1\]"),
                                      ({"beam": 2}, "unknown vq-prior sampler options: beam")])
def test_bad_sampler_options_are_one_line_errors(data, opts, msg):
    kind = make_kind("vq-prior", ZP, {**PRIOR_TINY, "vq": str(data["vq_zp"])})
    with pytest.raises(FastZDCError, match=msg):
        kind.sampler_options(opts)


def test_cli_train_vq_prior_generate_evaluate_with_sample_options(cli, tmp_path, data):
    common = ["--data", data["zp"], "--epochs", "1", "--batch-size", "32", "--set", "val_rows=16", "--set", "threads=1", "--json"]
    sets = [a for k, v in PRIOR_TINY.items() for a in ("--set", f"model.{k}={json.dumps(v)}")]
    res = cli("train", "vq-prior", "--out", tmp_path / "prior", *common, *sets, "--set", f"model.vq={data['vq_zp']}",
              "--set", "sampler.temperature=0.9")
    assert res.code == 0, res.err
    out = tmp_path / "gen.h5"
    res = cli("generate", "--model", tmp_path / "prior", "--conditions", data["zp"], "--out", out, "--batch-size", "8",
              "--sample-opt", "top_k=4", "--sample-opt", "top_p=0.9", "--json")
    assert res.code == 0, res.err
    got = res.json()
    assert got["rows"] == 160 and got["backend"] == "torch"  # auto never exports a vq-prior in memory
    assert got["sampler"] == {"temperature": 0.9, "top_k": 4, "top_p": 0.9, "dither": True, "poisson": False}
    res = cli("generate", "--model", tmp_path / "prior", "--conditions", data["zp"], "--out", tmp_path / "bad.h5",
              "--sample-opt", "top_k=0")
    assert res.code == 2 and "top_k must be an integer >= 1" in res.err and len(res.err.strip().splitlines()) == 1
    assert not (tmp_path / "bad.h5").exists()
    res = cli("generate", "--model", tmp_path / "prior", "--conditions", data["zp"], "--out", tmp_path / "bad.h5",
              "--sample-opt", "temperature")
    assert res.code == 2 and "--sample-opt expects key=value" in res.err
    res = cli("evaluate", "--data", data["zp"], "--model", tmp_path / "prior", "--max-rows", "20", "--n-rep", "2",
              "--no-floor", "--no-fidelity", "--sample-opt", "temperature=1.2", "--json")
    assert res.code == 0, res.err
    row = res.json()["results"][0]
    assert row["name"] == "vq-prior-zp" and np.isfinite(row["w_mean"])


# ---------------------------------------------------------------------------- token noise, decoder tuning, init
def test_token_noise_swaps_cells_between_rows_and_rejects_bad_fractions():
    x = torch.log1p(torch.from_numpy(make_dataset(8, ZP, seed=2).responses.astype(np.float32)))[:, None]
    cond = torch.randn(8, 9)
    losses = {}
    for p in (0.0, 0.5):
        kind = get_kind("vq")(ZP, {**VQ_TINY, "w_adv": 0, "w_perc": 0, "token_noise": p})
        torch.manual_seed(0)
        net = kind.build().eval()  # eval: no codebook update, so both runs see the same codes
        with torch.no_grad():
            losses[p] = kind.loss(net, x, cond, torch.Generator().manual_seed(1)).item()
    assert losses[0.0] != losses[0.5]
    for bad in (-0.1, 1.0, True, "0.3"):
        with pytest.raises(FastZDCError, match="token_noise"):
            get_kind("vq")(ZP, {**VQ_TINY, "token_noise": bad})


def test_decoder_tuning_keeps_the_source_tokens_and_trains_only_the_decoder(tmp_path, data):
    src = load_tensors(data["vq_zp"] / WEIGHTS)
    train(_cfg("vq", "zp", {"tune_decoder": str(data["vq_zp"]), "token_noise": 0.3, "enc_widths": [99]}, epochs=1),
          data["zp"], tmp_path / "tuned", progress=False)
    cfg = json.loads((tmp_path / "tuned" / "best" / "config.json").read_text())
    assert cfg["hparams"]["enc_widths"] == VQ_TINY["enc_widths"]  # the network is the source's
    assert cfg["hparams"]["tune_decoder_weights_sha256"]
    new = load_tensors(tmp_path / "tuned" / "best" / WEIGHTS)
    frozen = [k for k in src if k.startswith(("encoder.", "quantizer."))]
    assert frozen and all(torch.equal(new[k], src[k]) for k in frozen)
    assert any(not torch.equal(new[k], src[k]) for k in src if k.startswith("decoder."))
    with pytest.raises(FastZDCError, match="trained on ZP"):
        make_kind("vq", ZN, {"tune_decoder": str(data["vq_zp"])})


def test_init_fine_tunes_from_a_checkpoint_with_its_scaler(tmp_path, data):
    base = _cfg("vq", "zp", VQ_TINY, epochs=1, lr=1e-12, max_train_rows=40, init=str(data["vq_zp"]))
    train(base, data["zp"], tmp_path / "ft", progress=False)
    src_cfg = json.loads((data["vq_zp"] / "config.json").read_text())
    cfg = json.loads((tmp_path / "ft" / "best" / "config.json").read_text())
    assert cfg["scaler"] == src_cfg["scaler"]  # not refitted on the 40 rows
    src, new = load_tensors(data["vq_zp"] / WEIGHTS), load_tensors(tmp_path / "ft" / "best" / WEIGHTS)
    assert all(torch.allclose(new[k], src[k], atol=1e-6) for k in src if k.startswith(("encoder.", "decoder.")))
    with pytest.raises(FastZDCError, match="init must be a vae checkpoint"):
        train(_cfg("vae", "zp", {k: v for k, v in VQ_TINY.items() if k not in ("n_codes", "code_dim")}, init=str(data["vq_zp"])),
              data["zp"], tmp_path / "bad", progress=False)


def test_prior_exports_to_onnx_with_parity(tmp_path, data):
    """The token loop unrolls into one graph; the export checks itself against PyTorch on the same noise
    (it raises beyond tolerance) and the ONNX generator gives PyTorch's counts."""
    from fastzdc.export import export_onnx

    vq = tmp_path / "vq"
    shutil.copytree(data["vq_zp"], vq)
    train(_cfg("vq-prior", "zp", {**PRIOR_TINY, "vq": str(vq)}), data["zp"], tmp_path / "prior", progress=False)
    result = export_onnx(tmp_path / "prior", tmp_path / "onnx")
    assert result["card"]["kind"] == "vq-prior" and result["parity"]["float32"] < 1e-3
    cond = make_dataset(8, ZP, seed=3).conditions
    noise = NoiseStream(7, (2, 14, 8)).rows(0, 8)
    torch_gen, onnx_gen = load_generator(tmp_path / "prior"), load_generator(tmp_path / "onnx", threads=1)
    c = torch_gen.scaler.transform(cond)
    want = torch_gen.generate_log(torch.from_numpy(c), noise).numpy()[:, 0]
    assert np.abs(onnx_gen.generate_log(c, noise.numpy()) - want).max() < 1e-3
