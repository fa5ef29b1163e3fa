"""VQ decoders under a trained prior: how much light and fidelity the decoder keeps on the prior's tokens.

    python benchmarks/bench_vq_decoder.py --prior runs/vq-prior-zp/best \\
        --decoders runs/vq-dec-zp/best [...] --data data/split_zp/val.h5 [--rows 2000] [--append]

A VQ prior is trained on the tokens of a frozen encoder, so any decoder trained on the same encoder
and codebook (``fastzdc train vq --set model.tune_decoder=...``) can decode its samples. For the
prior's own decoder and each ``--decoders`` checkpoint, on the first ``--rows`` rows of ``--data``
(n_rep 1, one noise seed shared by all rows of the table):

* the reconstruction (tokens of the real images) and, as a probe of how much the decoder relies on
  token context, the *cell-shuffled* tokens (each grid cell's token taken from another random row):
  mean photon sum and W;
* the prior's samples at each ``--temperatures`` (top-k ``--top-k``): mean photon sum, W and MAE.

No Monte Carlo floor here (bench_vq.py gives it on the same rows): the rows of the table compare
with each other at one row count.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import ensure_allocator_env, first_rows, machine, publish  # noqa: E402

ensure_allocator_env()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fastzdc.evaluation.metrics import compare_counts  # noqa: E402
from fastzdc.inference import load_generator, read_checkpoint  # noqa: E402
from fastzdc.sampling.categorical import filtered_probs, inverse_cdf, normal_to_uniform  # noqa: E402
from fastzdc.sampling.counts import counts_from_log_images  # noqa: E402
from fastzdc.sampling.dither import stochastic_round_log1p  # noqa: E402

SEED = 3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prior", required=True, help="vq-prior checkpoint")
    ap.add_argument("--decoders", nargs="*", default=[], help="vq checkpoints with the prior's encoder and codebook")
    ap.add_argument("--data", required=True, help="validation file")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--temperatures", type=float, nargs="*", default=[1.0, 1.1, 1.2])
    ap.add_argument("--top-k", type=int, default=32)
    ap.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = ap.parse_args()

    gen = load_generator(args.prior)
    kind, net = gen.kind, gen.net
    ds = first_rows(args.data, args.rows)
    n = len(ds)
    real = ds.responses
    cond = torch.from_numpy(gen.scaler.transform(ds.conditions)).float()
    images = torch.log1p(torch.from_numpy(real.astype(np.float32)))[:, None]
    gh, gw = kind.vq_kind.grid_shape()

    decoders = [("prior's own", net.decoder)]
    encoder = None
    for path in args.decoders:
        vq = read_checkpoint(path)[1].eval()
        if not torch.equal(vq.quantizer.codebook, net.codebook):
            raise SystemExit(f"{path}: its codebook is not the prior's (the tokens would not match)")
        decoders.append((str(path), vq.decoder))
        encoder = encoder or vq

    gseed = torch.Generator().manual_seed(SEED)
    noise = torch.randn((n, *kind.noise_shape()), generator=gseed)
    u = normal_to_uniform(noise[:, 0].reshape(n, -1))
    dither = net.dither(noise[:, 1:])

    def score(decoder, tokens: torch.Tensor) -> tuple[float, float, float]:
        codes = net.codebook[tokens].reshape(n, gh, gw, -1).permute(0, 3, 1, 2)
        counts = counts_from_log_images(stochastic_round_log1p(decoder(codes, cond).clamp_min(0.0), dither))
        sc = compare_counts(ds.detector, real, counts, 1)
        return float(counts.sum((1, 2)).mean()), sc["w_mean"], sc["mae"]

    lines = [f"## VQ decoders under the prior {args.prior} ({machine()})", "",
             f"First {n} rows of {args.data} (SYNTHETIC stand-in), n_rep 1, noise seed {SEED}, top-k {args.top_k}; "
             f"mean photon sum of the real rows: {real.sum((1, 2)).mean():.1f}.", "",
             "| decoder | tokens | photons | W | MAE |", "|---|---|---:|---:|---:|"]
    with torch.no_grad():
        if encoder is None:
            encoder = read_checkpoint(kind.hparams["vq"])[1].eval()
        tokens = encoder.tokens(images).reshape(n, -1)
        perm = torch.stack([torch.randperm(n, generator=gseed) for _ in range(tokens.shape[1])], 1)
        shuffled = torch.gather(tokens, 0, perm)
        sampled = {
            t: net.gpt.generate(net.prefix(cond), lambda logits, i, t=t: inverse_cdf(filtered_probs(logits, t, args.top_k), u[:, i]))
            for t in args.temperatures
        }
        for name, decoder in decoders:
            rows = [("reconstruction", tokens), ("cell-shuffled", shuffled)] + [(f"prior, T {t:g}", s) for t, s in sampled.items()]
            for label, toks in rows:
                light, w, mae = score(decoder, toks)
                lines.append(f"| {name} | {label} | {light:.1f} | {w:.3f} | {mae:.2f} |")
                print(lines[-1], flush=True)
    publish(lines, args.append, echo=False)


if __name__ == "__main__":
    main()
