"""From the 9 features to what arrives at the ZDC plane: decays in flight, transport, fates.

* **Decays** (docs/mc.md): an unstable particle flies ``l ~ Exp(p/m c tau)``; if it decays before
  the ZDC (|z| < 112.5 m) it is replaced by its two-body daughters (isotropic in the rest frame, boosted
  exactly); cascades (Xi -> Lambda pi -> N pi pi) are followed, so a primary has <= 3 daughters.
  pi0 is kept as one EM particle (its two photons are collinear at TeV energies); neutrinos are dropped.
* **Transport**: straight line ``x = x0 + px/|pz| (z_face - z0)``; charged particles produced before the
  D1 dipole get the magnetic deflection ``x += q K / p`` (positive to +x, towards the ZP; linearly
  reduced if produced inside D1) plus a Gaussian smear ``jitter (2700 GeV / p)``.
* **Fates**: *direct* (inside a face, inside the aperture ``theta_ap`` and transmitted), *near spray*
  (transmission failed, or inside the aperture but off the faces: interaction in the pipes close to the
  ZDC), *far spray* (interaction upstream, P = amp exp(-theta/theta_s) for neutrals, amp min(1, p/p_s)
  for charged), or *miss* (nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..conditions import CHARGE, MASS, PX, PY, PZ, VX, VY, VZ
from ..detector import ZN, ZP
from .params import MCParams
from .species import CODE, CTAU_CM, DECAYS, KIND, MASS_GEV, MIP, NOTHING, classify

Z_DECAY_MAX_CM = 11250.0  # decays beyond this happen inside the ZDC: ignored
DIRECT, NEAR_SPRAY, FAR_SPRAY = 0, 1, 2


@dataclass
class Tracks:
    """Final-state particles (struct of arrays). Momenta GeV, positions cm, ``z0`` = |z| along the side."""

    evt: np.ndarray
    code: np.ndarray
    kind: np.ndarray
    q: np.ndarray
    m: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray  # signed; the sign is the side (+ = A)
    x0: np.ndarray
    y0: np.ndarray
    z0: np.ndarray

    def select(self, mask: np.ndarray) -> "Tracks":
        return Tracks(**{k: v[mask] for k, v in self.__dict__.items()})

    @staticmethod
    def concat(parts: list["Tracks"]) -> "Tracks":
        return Tracks(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in Tracks.__dataclass_fields__})

    @property
    def p(self) -> np.ndarray:
        return np.sqrt(self.px**2 + self.py**2 + self.pz**2)

    @property
    def energy(self) -> np.ndarray:
        return np.sqrt(self.px**2 + self.py**2 + self.pz**2 + self.m**2)


def primaries(cond: np.ndarray, rng: np.random.Generator, params: MCParams, first_event: int = 0) -> Tracks:
    """One track per condition row (event ``first_event + row``)."""
    c = np.asarray(cond, dtype=np.float64)
    n = c.shape[0]
    code = classify(c[:, MASS], c[:, CHARGE], rng, params.k0s_fraction)
    side = np.where(c[:, PZ] >= 0, 1.0, -1.0)
    pz = np.where(np.abs(c[:, PZ]) < 1e-9, side * 1e-9, c[:, PZ])
    return Tracks(
        evt=np.arange(first_event, first_event + n, dtype=np.int64),
        code=code,
        kind=KIND[code].copy(),
        q=np.rint(c[:, CHARGE]),
        m=np.maximum(c[:, MASS], 0.0) / 1000.0,
        px=c[:, PX].copy(),
        py=c[:, PY].copy(),
        pz=pz,
        x0=c[:, VX].copy(),
        y0=c[:, VY].copy(),
        z0=side * c[:, VZ],
    )


def _two_body(t: Tracks, m1: np.ndarray, m2: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Isotropic two-body decay of every track; returns (p1 (n,3), p2 (n,3)) in the lab (GeV)."""
    M = np.maximum(t.m, m1 + m2 + 1e-6)
    pstar = np.sqrt(np.maximum((M**2 - (m1 + m2) ** 2) * (M**2 - (m1 - m2) ** 2), 0.0)) / (2 * M)
    e1s = (M**2 + m1**2 - m2**2) / (2 * M)
    p = np.stack([t.px, t.py, t.pz], axis=1)
    pabs = np.linalg.norm(p, axis=1)
    n = p / pabs[:, None]
    E = np.sqrt(pabs**2 + M**2)
    gamma, bg = E / M, pabs / M
    cost = rng.uniform(-1.0, 1.0, len(M))
    sint = np.sqrt(1.0 - cost**2)
    phi = rng.uniform(0.0, 2 * np.pi, len(M))
    p_par = gamma * pstar * cost + bg * e1s
    p_perp = pstar * sint
    # orthonormal basis perpendicular to n (n is never along y here: |n_z| ~ 1)
    e1 = np.stack([n[:, 2], np.zeros_like(M), -n[:, 0]], axis=1)
    e1 /= np.linalg.norm(e1, axis=1)[:, None]
    e2 = np.cross(n, e1)
    p1 = p_par[:, None] * n + p_perp[:, None] * (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2)
    return p1, p - p1


def decay_in_flight(t: Tracks, rng: np.random.Generator, max_generations: int = 3) -> Tracks:
    """Replace every particle that decays before the ZDC by its daughters (cascades followed).

    Decay length l ~ Exp(beta gamma c tau) with beta gamma = p/m; the vertex moves along the momentum.
    Muons (from pi/K -> mu nu) give no shower and are dropped with the neutrinos.
    """
    final: list[Tracks] = []
    cur = t
    for gen in range(max_generations + 1):
        if len(cur.m) == 0:
            break
        ctau = CTAU_CM[cur.code]
        unstable = np.isfinite(ctau) & (cur.m > 0)
        if gen == max_generations or not unstable.any():
            final.append(cur)
            break
        p = cur.p
        bgct = np.where(unstable, p / np.maximum(cur.m, 1e-9) * np.where(unstable, ctau, 0.0), 0.0)
        length = rng.exponential(1.0, len(p)) * bgct
        decays = unstable & (cur.z0 + length * np.abs(cur.pz) / p < Z_DECAY_MAX_CM)
        final.append(cur.select(~decays))
        if not decays.any():
            break
        d = cur.select(decays)
        frac = (length / p)[decays]  # flight path per unit momentum
        xd, yd, zd = d.x0 + d.px * frac, d.y0 + d.py * frac, d.z0 + np.abs(d.pz) * frac
        u = rng.random(len(d.m))
        children: list[Tracks] = []
        for name, channels in DECAYS.items():
            sel_parent = d.code == CODE[name]
            if not sel_parent.any():
                continue
            cum = np.cumsum([c[0] for c in channels])
            ch = np.minimum(np.searchsorted(cum / cum[-1], u, side="right"), len(channels) - 1)
            for k, (_, n1, n2) in enumerate(channels):
                sel = sel_parent & (ch == k)
                if not sel.any():
                    continue
                dd = d.select(sel)
                m1 = np.full(len(dd.m), MASS_GEV[CODE[n1]])
                m2 = np.full(len(dd.m), 0.0 if n2 == "nu" else MASS_GEV[CODE[n2]])
                p1, p2 = _two_body(dd, m1, m2, rng)
                for cname, pp, mm in ((n1, p1, m1), (n2, p2, m2)):
                    if cname == "nu":
                        continue
                    cc = CODE[cname]
                    children.append(
                        Tracks(
                            evt=dd.evt, code=np.full(len(mm), cc, dtype=np.int16),
                            kind=np.full(len(mm), KIND[cc], dtype=np.int8),
                            q=np.full(len(mm), float(_charge(cname))), m=mm,
                            px=pp[:, 0], py=pp[:, 1], pz=pp[:, 2],
                            x0=xd[sel], y0=yd[sel], z0=zd[sel],
                        )
                    )
        if not children:
            break
        cur = Tracks.concat(children)
    out = Tracks.concat(final) if final else t.select(np.zeros(len(t.m), dtype=bool))
    keep = (out.kind != MIP) & (out.kind != NOTHING)
    return out.select(keep)


def _charge(name: str) -> int:
    from .species import BY_NAME

    return BY_NAME[name].charge


@dataclass
class Arrivals:
    """What reaches the ZDC plane: one row per (track, fate). Energies GeV, positions cm (global x, y)."""

    evt: np.ndarray
    fate: np.ndarray  # DIRECT / NEAR_SPRAY / FAR_SPRAY
    det: np.ndarray  # for DIRECT: 0 = ZN, 1 = ZP; otherwise -1
    kind: np.ndarray  # EM / BARYON / MESON
    energy: np.ndarray
    x: np.ndarray
    y: np.ndarray
    loss: np.ndarray  # True: inside a face but not transmitted (lost close to the ZDC)


def transport(t: Tracks, rng: np.random.Generator, params: MCParams) -> Arrivals:
    """Impact points at the ZN/ZP faces and the fate of every track."""
    n = len(t.m)
    p = t.p
    side_a = t.pz > 0
    apz = np.abs(t.pz)
    tx, ty = t.px / apz, t.py / apz
    charged = t.q != 0
    dfrac = np.clip((params.d1_end_cm - t.z0) / (params.d1_end_cm - params.d1_start_cm), 0.0, 1.0)
    defl = np.where(charged, t.q * params.deflection_k_cm_gev / p * dfrac, 0.0)
    sj = np.where(charged, params.jitter_cm * 2700.0 / p, 0.0)
    jx, jy = rng.standard_normal(n) * sj, rng.standard_normal(n) * sj

    def impact(det):
        zf = np.where(side_a, det.z_face_a_cm, det.z_face_c_cm)
        return t.x0 + tx * (zf - t.z0) + defl + jx, t.y0 + ty * (zf - t.z0) + jy

    xn, yn = impact(ZN)
    xp, yp = impact(ZP)
    in_zn = (xn > ZN.x_low_cm) & (xn < ZN.x_high_cm) & (yn > ZN.y_low_cm) & (yn < ZN.y_high_cm)
    in_zp = (xp > ZP.x_low_cm) & (xp < ZP.x_high_cm) & (yp > ZP.y_low_cm) & (yp < ZP.y_high_cm)
    # aperture: straight-line position at the D1 exit for tracks produced before it
    zap = np.maximum(t.z0, params.d1_end_cm)
    half = params.theta_ap_mrad * 1e-3 * params.d1_end_cm
    ap_ok = (np.abs(t.x0 + tx * (zap - t.z0)) < half) & (np.abs(t.y0 + ty * (zap - t.z0)) < half)
    ap_ok |= t.z0 >= params.d1_end_cm
    trans_p = np.where(charged, params.zp_transmission, params.zn_transmission)
    transmitted = rng.random(n) < np.where(in_zp, trans_p, params.zn_transmission)
    direct_zn = in_zn & ap_ok & transmitted
    direct_zp = in_zp & ap_ok & transmitted & ~direct_zn
    direct = direct_zn | direct_zp
    failed = (in_zn | in_zp) & ap_ok & ~transmitted

    lo, hi = params.spray_clip_x_cm
    in_window = (xn > lo) & (xn < hi) & (np.abs(yn) < params.spray_clip_y_cm)
    theta_mrad = np.hypot(tx, ty) * 1e3
    p_spray = np.where(
        charged,
        params.spray_charged_amp * np.minimum(1.0, p / params.spray_charged_p_gev),
        params.spray_neutral_amp * np.exp(-theta_mrad / params.spray_neutral_theta_mrad),
    )
    spray = ~direct & ~failed & (rng.random(n) < p_spray)
    near = failed | (spray & ap_ok & in_window)
    far = spray & ~near

    fate = np.full(n, -1, dtype=np.int8)
    fate[direct] = DIRECT
    fate[near] = NEAR_SPRAY
    fate[far] = FAR_SPRAY
    det = np.where(direct_zn, 0, np.where(direct_zp, 1, -1)).astype(np.int8)
    x = np.where(direct_zp, xp, xn)
    y = np.where(direct_zp, yp, yn)
    x = np.where(far, np.clip(x, lo, hi), x)
    y = np.where(far, np.clip(y, -params.spray_clip_y_cm, params.spray_clip_y_cm), y)
    keep = fate >= 0
    return Arrivals(
        evt=t.evt[keep], fate=fate[keep], det=det[keep], kind=t.kind[keep],
        energy=t.energy[keep], x=x[keep], y=y[keep], loss=failed[keep],
    )
