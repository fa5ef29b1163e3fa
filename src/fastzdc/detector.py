"""The two ZDC calorimeters as small value objects: image shape, fibre pitch, placement, channels.

Everything that needs "44x44" or "56x30" asks a :class:`Detector`; no shape is written twice.

Conventions (docs/mc.md, O2 ``SpatialPhotonResponse``):

* one pixel = one quartz fibre; ``image[ix, iy]`` with the **first axis = x** (horizontal, the
  magnetic bending plane) and the second = y, both in the global ALICE frame;
* fibre centre of pixel (ix, iy): ``x = x_low_cm + pitch_cm * (ix + 0.5)``, same for y;
* both sides of the interaction point (A and C) fill the same image.

The 5 channels of the published work and of O2's ``calculateChannels`` (fastsimulation/Processors.cxx):
pixels with ``i % 2 == j % 2`` ((i+j) even) feed 4 quadrant towers split at ``H//2`` and ``W//2`` in the
order ch1 (i < H/2, j < W/2), ch2 (i < H/2, j >= W/2), ch3 (i >= H/2, j < W/2), ch4 (i >= H/2, j >= W/2);
pixels with (i+j) odd feed ch5, the common PMT. ``i`` is the first image axis. The ML papers use these
2x2 quadrants for ZP too, although the real ZP has 4x1 towers; we follow the papers so that numbers
compare.

Units: lengths in cm, photon counts (photo-electrons) are non-negative integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .errors import FastZDCError

N_CHANNELS = 5
CHANNEL_NAMES: tuple[str, ...] = ("ch1", "ch2", "ch3", "ch4", "ch5")


@dataclass(frozen=True)
class Detector:
    """One ZDC calorimeter.

    Geometry from the O2 geometry (``ZDCBase/Geometry.h``, docs/mc.md); the effective
    (fibre-matrix diluted) material constants from docs/mc.md [CALC].
    """

    name: str
    """``"zn"`` (neutron calorimeter) or ``"zp"`` (proton calorimeter)."""
    nx: int
    ny: int
    pitch_cm: float
    x_low_cm: float
    y_low_cm: float
    z_face_a_cm: float
    """|z| of the front face on side A (pz > 0)."""
    z_face_c_cm: float
    """|z| of the front face on side C (pz < 0)."""
    depth_cm: float
    lambda_eff_cm: float
    """effective nuclear interaction length of the fibre matrix"""
    x0_eff_cm: float
    """effective radiation length"""
    rm_eff_cm: float
    """effective Moliere radius"""
    z_eff: float
    """effective atomic number of the absorber (GFlash parameters)"""
    description: str = field(default="", compare=False)

    # ------------------------------------------------------------------ geometry
    @property
    def shape(self) -> tuple[int, int]:
        """Image shape ``(nx, ny)``: (44, 44) for ZN, (56, 30) for ZP."""
        return (self.nx, self.ny)

    @property
    def n_pixels(self) -> int:
        return self.nx * self.ny

    @property
    def x_high_cm(self) -> float:
        return self.x_low_cm + self.nx * self.pitch_cm

    @property
    def y_high_cm(self) -> float:
        return self.y_low_cm + self.ny * self.pitch_cm

    @property
    def x_center_cm(self) -> float:
        return 0.5 * (self.x_low_cm + self.x_high_cm)

    def pixel_centers_cm(self) -> tuple[np.ndarray, np.ndarray]:
        """Fibre centres: ``(x (nx,), y (ny,))`` in cm."""
        x = self.x_low_cm + self.pitch_cm * (np.arange(self.nx) + 0.5)
        y = self.y_low_cm + self.pitch_cm * (np.arange(self.ny) + 0.5)
        return x, y

    # ------------------------------------------------------------------ channels
    @cached_property
    def channel_masks(self) -> np.ndarray:
        """Boolean masks ``(5, nx, ny)``; every pixel belongs to exactly one channel."""
        i = np.arange(self.nx)[:, None]
        j = np.arange(self.ny)[None, :]
        tower = (i + j) % 2 == 0
        top = i < self.nx // 2
        left = j < self.ny // 2
        masks = np.stack(
            [tower & top & left, tower & top & ~left, tower & ~top & left, tower & ~top & ~left, ~tower]
        )
        masks.setflags(write=False)
        return masks

    def channel_sums(self, images: Any, *, chunk: int = 16384) -> Any:
        """5 channel sums of a batch of count images.

        Args:
            images: ``(N, nx, ny)`` photon counts, a NumPy array or a torch tensor (any device).
                Images in log1p space must be mapped back first (:func:`counts_from_log1p`).
            chunk: rows per matrix product (bounds memory for NumPy inputs).

        Returns:
            ``(N, 5)`` float64 NumPy array for NumPy input (exact for integer counts), or a torch
            tensor of the input's floating dtype (float32 for integer tensors) on its device.
        """
        if _is_torch(images):
            import torch

            self._check_shape(tuple(images.shape))
            dtype = images.dtype if images.is_floating_point() else torch.float32
            masks = torch.tensor(self.channel_masks.reshape(N_CHANNELS, -1), dtype=dtype, device=images.device)
            return images.reshape(images.shape[0], -1).to(dtype) @ masks.T
        images = np.asarray(images)
        self._check_shape(images.shape)
        flat = images.reshape(images.shape[0], -1)
        masks = self.channel_masks.reshape(N_CHANNELS, -1).T.astype(np.float64)
        out = np.empty((flat.shape[0], N_CHANNELS), dtype=np.float64)
        for start in range(0, flat.shape[0], chunk):
            out[start : start + chunk] = flat[start : start + chunk].astype(np.float64) @ masks
        return out

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 3 or tuple(shape[1:]) != self.shape:
            raise FastZDCError(f"{self.name.upper()} images must have shape (N, {self.nx}, {self.ny}), got {tuple(shape)}")


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def counts_from_log1p(images: Any) -> Any:
    """Map log1p images back to photon counts: ``exp(x) - 1`` (NumPy or torch)."""
    if _is_torch(images):
        import torch

        return torch.expm1(images)
    return np.expm1(images)


ZN = Detector(
    name="zn",
    nx=44,
    ny=44,
    pitch_cm=0.16,
    x_low_cm=-3.52,
    y_low_cm=-3.52,
    z_face_a_cm=11259.8,
    z_face_c_cm=11261.3,
    depth_cm=100.0,
    lambda_eff_cm=12.15,
    x0_eff_cm=0.46,
    rm_eff_cm=1.16,
    z_eff=72.0,
    description="neutron calorimeter: W alloy + quartz fibres, 7.04 x 7.04 x 100 cm, 44 x 44 fibres",
)

ZP = Detector(
    name="zp",
    nx=56,
    ny=30,
    pitch_cm=0.4,
    x_low_cm=13.15,
    y_low_cm=-6.0,
    z_face_a_cm=11251.8,
    z_face_c_cm=11253.3,
    depth_cm=150.0,
    lambda_eff_cm=16.81,
    x0_eff_cm=1.56,
    rm_eff_cm=1.72,
    z_eff=29.4,
    description="proton calorimeter: brass + quartz fibres, 22.4 x 12 x 150 cm, 56 x 30 fibres",
)

DETECTORS: dict[str, Detector] = {"zn": ZN, "zp": ZP}


def get_detector(name: str | Detector) -> Detector:
    """Look a detector up by name (``"zn"``/``"zp"``, case-insensitive)."""
    if isinstance(name, Detector):
        return name
    try:
        return DETECTORS[str(name).lower()]
    except KeyError:
        raise FastZDCError(f"unknown detector {name!r}; choose one of: zn, zp") from None


def detector_for_shape(shape: tuple[int, ...]) -> Detector:
    """The detector whose image shape is ``shape[-2:]``."""
    for det in DETECTORS.values():
        if tuple(shape[-2:]) == det.shape:
            return det
    raise FastZDCError(f"image shape {tuple(shape[-2:])} is neither ZN (44, 44) nor ZP (56, 30)")
