"""The flow-matching velocity-network designs compared in benchmarks/RESULTS.md (one list, used by
compare_fm_designs.py, bench_gpu.py and scripts/train_designs.py). Keys are short run names; values
override the FM kind's defaults (fastzdc.models.fm.FlowMatching.defaults)."""

FM_DESIGNS: dict[str, tuple[str, dict]] = {
    "film": ("FiLM 8-24-48 (default)", {"widths": [8, 24, 48]}),
    "film-small": ("FiLM 6-16-32", {"widths": [6, 16, 32]}),
    "film-wide": ("FiLM 8-32-64", {"widths": [8, 32, 64]}),
    "film-nonorm": ("FiLM 8-24-48, no GroupNorm", {"widths": [8, 24, 48], "norm": False}),
    "film-attn": ("FiLM + attention token", {"widths": [8, 24, 48], "attn_tokens": True}),
    "token": ("attention token only (published scheme)", {"widths": [8, 24, 48], "cond_via": "token"}),
    "deq": ("FiLM 8-24-48 + dequantization", {"widths": [8, 24, 48], "dequantize": True}),
}
