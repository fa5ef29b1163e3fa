"""Every tunable number of the stand-in Monte Carlo, in one frozen dataclass.

Each field carries its unit in the name or docstring and a provenance tag in its metadata
(docs/mc.md): ``[V-O2]`` read in the O2 source, ``[CALC]`` computed, ``[REC]`` literature value,
``[DATA]`` statistic of the real dataset, ``[EST]`` estimate, ``tuned`` = set by calibrating the
generator against the real-data statistics of docs/mc.md (see :mod:`fastzdc.mc.calibrate`).

``params_hash`` is the first 12 hex digits of the sha256 of the canonical JSON of all fields; it goes
into every file the generator writes, so a change of any parameter is visible.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..detector import ZN, ZP
from ..errors import FastZDCError


def _p(default: Any, source: str, doc: str) -> Any:
    return field(default=default, metadata={"source": source, "doc": doc})


# Internal species order used by the sampler weights (see species.py for masses/charges).
SAMPLER_SPECIES: tuple[str, ...] = (
    "gamma", "n", "nbar", "p", "pbar", "K0", "Lambda", "Lambdabar", "Xi0", "Sigma+",
    "pi+", "K+", "pi-", "K-", "Xi-", "Omega-",
)


@dataclass(frozen=True)
class MCParams:
    """Parameters of :mod:`fastzdc.mc` (defaults = calibrated stand-in, docs/mc.md)."""

    # ---------------------------------------------------------------- materials (docs/mc.md)
    lambda_zn_cm: float = _p(ZN.lambda_eff_cm, "[CALC]", "effective interaction length of the ZN fibre matrix, cm")
    lambda_zp_cm: float = _p(ZP.lambda_eff_cm, "[CALC]", "effective interaction length of the ZP fibre matrix, cm")
    x0_zn_cm: float = _p(ZN.x0_eff_cm, "[CALC]", "effective radiation length ZN, cm")
    x0_zp_cm: float = _p(ZP.x0_eff_cm, "[CALC]", "effective radiation length ZP, cm")
    rm_zn_cm: float = _p(ZN.rm_eff_cm, "[CALC]", "effective Moliere radius ZN, cm")
    rm_zp_cm: float = _p(ZP.rm_eff_cm, "[CALC]", "effective Moliere radius ZP, cm")
    z_zn: float = _p(ZN.z_eff, "[CALC]", "effective Z of the ZN absorber (GFlash)")
    z_zp: float = _p(ZP.z_eff, "[CALC]", "effective Z of the ZP absorber (GFlash)")

    # ---------------------------------------------------------------- hadronic shower (§2.4)
    bock_a0: float = _p(0.6165, "[REC]", "Bock profile shape a = a0 + a1 ln(E/GeV)")
    bock_a1: float = _p(0.3183, "[REC]", "Bock profile shape slope")
    bock_b: float = _p(0.2198, "[REC]", "Bock EM-term slope b (per X0)")
    bock_d0: float = _p(0.9099, "[REC]", "Bock hadronic-term slope d = d0 - d1 ln E (per lambda)")
    bock_d1: float = _p(0.0237, "[REC]", "Bock hadronic-term slope energy coefficient")
    bock_w: float = _p(0.4634, "[REC]", "Bock weight of the EM term")
    fem_k: float = _p(0.82, "[REC]", "EM fraction f_em = 1 - (E/E0)^(k-1)")
    fem_e0_meson_gev: float = _p(1.0, "[REC]", "E0 of f_em for mesons, GeV")
    fem_e0_baryon_gev: float = _p(2.6, "[REC]", "E0 of f_em for baryons, GeV")
    fem_sigma: float = _p(0.08, "tuned [EST 0.08-0.15]", "event-by-event sigma of f_em (Beta distributed, skewed)")
    h_over_e: float = _p(0.30, "tuned [REC/EST 0.1-0.3]", "Cherenkov response of the non-EM part relative to EM")
    nsub_slope: float = _p(1.5, "[EST]", "pi0 sub-showers: N = 1 + Poisson(slope ln(E/E0))")
    nsub_e0_gev: float = _p(10.0, "[EST]", "E0 of the sub-shower count, GeV")
    lead_beta_a: float = _p(1.2, "[EST]", "leading sub-shower fraction ~ Beta(a, b)")
    lead_beta_b: float = _p(2.5, "[EST]", "leading sub-shower fraction ~ Beta(a, b)")
    sub_dirichlet: float = _p(0.7, "[EST]", "Dirichlet concentration of the other sub-showers")
    lat_scales_lambda: tuple[float, float, float] = _p(
        (0.04, 0.12, 0.25), "tuned [EST 0.1/0.35/1.0]",
        "sub-shower centre distance ~ Exp(scale * lambda) mixture; the visible (Cherenkov) core is narrower "
        "than the energy deposit (§2.2), hence smaller than the §4.5 suggestion")
    lat_weights: tuple[float, float, float] = _p(
        (0.6, 0.3, 0.1), "tuned [EST 0.5/0.35/0.15]", "weights of the three scales")
    depth_spread_gain: float = _p(0.3, "tuned [EST]", "lateral scale x sqrt(1 + gain * depth offset / lambda)")
    broad_radius_lambda: float = _p(0.35, "[EST]", "GFlash-form radius of the non-EM light, in lambda")

    # ---------------------------------------------------------------- light (§2.2, §2.5)
    yield_em_zn: float = _p(0.57, "[DATA/CALC 0.55]", "ZN photo-electrons per GeV of contained EM energy")
    yield_em_zp: float = _p(0.38, "[DATA/CALC]", "ZP photo-electrons per GeV of contained EM energy")
    fano: float = _p(1.5, "[EST 1-3]", "photo-electron variance / mean (negative binomial)")
    tau_gflash_zn: float = _p(1.0, "[EST]", "fast mode: ZN GFlash radial profile evaluated at tau = t/T_max")
    tau_gflash_zp: float = _p(0.6, "tuned [EST]", "fast mode: ZP GFlash radial profile evaluated at tau = t/T_max")

    # ---------------------------------------------------------------- beam line and transport (§1.4, §3.4)
    d1_start_cm: float = _p(5838.0, "[V-O2]", "separation dipole D1 begins, |z| in cm")
    d1_end_cm: float = _p(6783.0, "[V-O2]", "separation dipole D1 ends, |z| in cm")
    deflection_k_cm_gev: float = _p(6.0e4, "[EST 5.1-6.7e4]", "charged deflection at the ZDC: x += q K / p")
    jitter_cm: float = _p(0.3, "[EST]", "Gaussian smear of charged impact, sigma = jitter * (2700 GeV / p)")
    theta_ap_mrad: float = _p(
        0.60, "tuned [EST/CALC 0.4-0.6]", "aperture half-angle (D1 exit / TCL) for straight tracks, mrad")
    zp_transmission: float = _p(
        0.6, "[EST/DATA 0.4-0.9]", "probability a charged particle in the ZP window arrives intact")
    zn_transmission: float = _p(1.0, "[EST]", "probability a neutral inside the ZN acceptance arrives intact")
    spray_neutral_amp: float = _p(0.95, "tuned [EST 0.9]", "P(spray) = amp exp(-theta/theta_s) for neutrals")
    spray_neutral_theta_mrad: float = _p(5.0, "tuned [EST 1.5]", "theta_s of the neutral spray probability, mrad")
    spray_charged_amp: float = _p(0.9, "tuned [EST 0.7]", "P(spray) = amp min(1, p/p_s) for charged")
    spray_charged_p_gev: float = _p(300.0, "tuned [EST 1000]", "p_s of the charged spray probability, GeV")
    spray_u_a: float = _p(0.5, "tuned [EST 0.4]", "arriving energy fraction of spray u ~ Beta(a, b)")
    spray_u_b: float = _p(5.0, "tuned [EST 6]", "arriving energy fraction of spray u ~ Beta(a, b)")
    spray_yield: float = _p(2.0, "tuned [EST 0.5]", "spray light = yield_em * spray_yield * u * E")
    spray_near_u_a: float = _p(0.5, "[EST]", "u ~ Beta(a, b) for near-ZDC losses (failed transmission)")
    spray_near_u_b: float = _p(3.0, "[EST]", "u ~ Beta(a, b) for near-ZDC losses (failed transmission)")
    spray_near_sigma_cm: float = _p(2.5, "[EST]", "blob-centre smear around the impact, near losses, cm")
    spray_far_sigma_cm: float = _p(5.45, "tuned [EST]", "blob-centre smear for losses far upstream (D1, pipes), cm")
    spray_clip_x_cm: tuple[float, float] = _p(
        (-10.0, 30.0), "[EST]", "far-spray centres clipped to this x range (pipes), cm")
    spray_clip_y_cm: float = _p(6.0, "tuned [EST]", "far-spray centres clipped to |y| < this, cm")
    spray_blob_radius_cm: tuple[float, float] = _p((0.7, 2.5), "tuned [EST 1-3]", "blob radius ~ U(lo, hi), cm")
    spray_extra_blob_prob: float = _p(0.2, "tuned [EST]", "each of 3 extra blobs is present with this probability")
    spray_broad_frac: float = _p(0.02, "tuned [EST 0.1]", "fraction of spray light in one broad (R = 10 cm) component")
    xtalk_zn_to_zp: float = _p(
        0.0225, "tuned [DATA rows/EST 0.02]", "median fraction of a ZN shower leaking into ZP (log-normal)")
    xtalk_zp_to_zn: float = _p(0.04, "[DATA rows/EST]", "median fraction of a ZP shower leaking into ZN (log-normal)")
    xtalk_log_sigma: float = _p(0.8, "[EST]", "sigma of ln(epsilon)")
    xtalk_radius_cm: float = _p(3.0, "[EST]", "radius of the cross-talk light at the facing edge, cm")
    k0s_fraction: float = _p(0.5, "[EST]", "K0 from the generator is K0S with this probability (else K0L)")

    # ---------------------------------------------------------------- detailed mode (§4.4)
    det_e_cut_gev: float = _p(1.0, "[EST]", "detailed: hadrons below this deposit locally (h/e light)")
    det_mult_a: float = _p(2.0, "[EST]", "detailed: multiplicity n = a + b ln(E/GeV) (Poisson-fluctuated)")
    det_mult_b: float = _p(1.5, "[EST]", "detailed: multiplicity slope")
    det_pi0_fraction: float = _p(1.0 / 3.0, "[EST]", "detailed: fraction of produced pions that are pi0")
    det_pt_mean_gev: float = _p(0.35, "[EST]", "detailed: secondary pT ~ Exponential(mean)")
    det_spot_fraction: float = _p(0.1, "[EST]", "detailed: GFlash spots = fraction x 93 ln Z E^0.876")
    det_dep_radius_lambda: float = _p(0.1, "[EST]", "detailed: radius of a local hadronic deposit, in lambda")
    det_ec_zn_mev: float = _p(8.1, "[REC]", "critical energy of the ZN W alloy, MeV (GFlash y = E/Ec)")
    det_ec_zp_mev: float = _p(19.7, "[REC]", "critical energy of the ZP brass, MeV")

    # ---------------------------------------------------------------- condition sampler (§3.2, §4.2)
    species_weights: tuple[float, ...] = _p(
        (0.63973, 0.06522, 0.00588, 0.0609, 0.00479, 0.06325, 0.0131, 0.00321, 0.00219, 0.00209,
         0.03916, 0.01495, 0.06332, 0.02016, 0.00152, 0.00054),
        "tuned [EST mix §3.2]", "raw sampling weights, order SAMPLER_SPECIES")
    e_median_light_gev: float = _p(150.0, "tuned", "photon/meson energy ~ log-normal, median GeV")
    e_sigma_light: float = _p(1.63, "tuned", "photon/meson log-normal sigma")
    e_median_baryon_gev: float = _p(1566.0, "tuned", "baryon energy ~ log-normal, median GeV")
    e_sigma_baryon: float = _p(1.0, "tuned", "baryon log-normal sigma")
    e_max_gev: float = _p(7000.0, "[DATA]", "beam energy cap, GeV")
    e_min_gev: float = _p(1.1, "[DATA]", "minimum energy, GeV")
    proton_beam_fraction: float = _p(0.03, "[EST]", "protons at exactly 7000 GeV (elastic/diffractive)")
    pt_mean_gev: float = _p(0.3, "[EST/DATA]", "pT ~ Exponential(mean), isotropic phi")
    pt_mean_photon_gev: float = _p(0.43, "tuned [EST]", "mean pT of photons (pi0 decay products), GeV")
    pt_tail_fraction: float = _p(0.03, "[EST]", "fraction of pT drawn from a wider exponential")
    pt_tail_mean_gev: float = _p(1.2, "[EST]", "mean pT of the tail")
    theta_max_mrad: float = _p(
        1.53, "tuned [EST]", "primaries are limited to polar angles below this (head for the ZDCs), mrad")
    px_offset_gev: float = _p(0.03, "[DATA]", "px shift (crossing-angle like)")
    p_side_a: float = _p(0.48, "tuned [DATA]", "probability pz > 0 (side A)")
    vertex_zero_fraction: float = _p(0.5, "[DATA]", "fraction of primaries with vertex exactly 0")
    vertex_sigma_xy_cm: float = _p(1e-5, "[DATA]", "Laplace scale of the transverse vertex, cm")
    vertex_sigma_z_cm: float = _p(1e-2, "[DATA]", "Laplace scale of the longitudinal vertex, cm")


def default_params() -> MCParams:
    """The calibrated defaults."""
    return MCParams()


def to_dict(params: MCParams) -> dict[str, Any]:
    """JSON-ready dict (tuples become lists)."""
    d = asdict(params)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def from_dict(d: dict[str, Any]) -> MCParams:
    """Inverse of :func:`to_dict`; missing keys take the defaults, unknown keys raise FastZDCError."""
    names = {f.name: f for f in fields(MCParams)}
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise FastZDCError(f"unknown MC parameter(s): {', '.join(unknown)}")
    kw: dict[str, Any] = {}
    for k, v in d.items():
        default = names[k].default
        if isinstance(default, tuple):
            if not isinstance(v, (list, tuple)) or len(v) != len(default):
                raise FastZDCError(f"MC parameter {k} must be a list of {len(default)} numbers")
            kw[k] = tuple(float(x) for x in v)
        else:
            try:
                kw[k] = float(v)
            except (TypeError, ValueError):
                raise FastZDCError(f"MC parameter {k} must be a number, got {v!r}") from None
    return MCParams(**kw)


def params_hash(params: MCParams | None = None) -> str:
    """First 12 hex digits of sha256 over the canonical JSON of the parameters."""
    params = params or default_params()
    text = json.dumps(to_dict(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def param_table(params: MCParams | None = None) -> list[tuple[str, Any, str, str]]:
    """Rows ``(name, value, source, doc)`` for documentation."""
    params = params or default_params()
    return [(f.name, getattr(params, f.name), f.metadata["source"], f.metadata["doc"]) for f in fields(MCParams)]
