"""Detector conventions: channel masks, the O2 calculateChannels rule, NumPy/torch agreement."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fastzdc import ZN, ZP, FastZDCError, get_detector
from fastzdc.detector import counts_from_log1p, detector_for_shape


def o2_calculate_channels(flat_log_image: np.ndarray) -> list[int]:
    """Line-by-line Python re-statement of O2's ``processors::calculateChannels`` (Processors.cxx):
    row-major 44x44 log1p image, expm1, towers where i%2 == j%2, quadrants split at 22, lround."""
    channels = [0.0] * 5
    for i in range(44):
        for j in range(44):
            v = math.expm1(float(flat_log_image[j + i * 44]))
            if i % 2 == j % 2:
                if i < 22 and j < 22:
                    channels[0] += v
                elif i < 22 and j >= 22:
                    channels[1] += v
                elif i >= 22 and j < 22:
                    channels[2] += v
                else:
                    channels[3] += v
            else:
                channels[4] += v
    return [int(math.floor(c + 0.5)) for c in channels]


def test_shapes_and_pitch():
    assert ZN.shape == (44, 44) and ZP.shape == (56, 30)
    assert ZN.x_high_cm == pytest.approx(3.52) and ZP.x_high_cm == pytest.approx(35.55)
    assert ZP.y_high_cm == pytest.approx(6.0)
    x, y = ZN.pixel_centers_cm()
    assert x[0] == pytest.approx(-3.44) and y[-1] == pytest.approx(3.44)


@pytest.mark.parametrize("det", [ZN, ZP])
def test_masks_partition_every_pixel_once(det):
    m = det.channel_masks
    assert m.shape == (5, *det.shape)
    assert (m.sum(axis=0) == 1).all()
    # half the fibres (checkerboard) go to the common channel
    assert m[4].sum() == det.n_pixels // 2
    # each quadrant tower gets its own quarter of the even fibres
    i, j = np.nonzero(m[1])
    assert (i < det.nx // 2).all() and (j >= det.ny // 2).all() and ((i + j) % 2 == 0).all()


def test_hand_made_image_matches_o2_calculate_channels():
    img = np.zeros((44, 44))
    img[0, 0] = 5      # even, top-left     -> ch1
    img[2, 30] = 7     # even, i<22, j>=22  -> ch2
    img[30, 4] = 11    # even, i>=22, j<22  -> ch3
    img[43, 43] = 13   # even, bottom-right -> ch4
    img[0, 1] = 17     # odd                -> ch5
    img[25, 2] = 19    # odd                -> ch5
    log_img = np.log1p(img)
    expected = o2_calculate_channels(log_img.reshape(-1))
    assert expected == [5, 7, 11, 13, 36]
    ours = ZN.channel_sums(counts_from_log1p(log_img)[None])[0]
    assert np.round(ours).astype(int).tolist() == expected


def test_random_images_match_o2_rule():
    rng = np.random.default_rng(3)
    counts = rng.poisson(2.0, (3, 44, 44))
    sums = ZN.channel_sums(counts)
    for k in range(3):
        assert sums[k].astype(int).tolist() == o2_calculate_channels(np.log1p(counts[k]).reshape(-1))


@pytest.mark.parametrize("det", [ZN, ZP])
def test_torch_equals_numpy(det):
    rng = np.random.default_rng(0)
    counts = rng.poisson(1.0, (7, *det.shape)).astype(np.float32)
    np_sums = det.channel_sums(counts)
    t_sums = det.channel_sums(torch.from_numpy(counts))
    assert isinstance(t_sums, torch.Tensor)
    np.testing.assert_allclose(t_sums.numpy(), np_sums, rtol=1e-6)
    assert np_sums.sum() == pytest.approx(counts.sum())


def test_wrong_shape_and_unknown_detector():
    with pytest.raises(FastZDCError):
        ZN.channel_sums(np.zeros((2, 56, 30)))
    with pytest.raises(FastZDCError, match="unknown detector"):
        get_detector("zdc")
    with pytest.raises(FastZDCError):
        detector_for_shape((1, 40, 40))
    assert get_detector("ZP") is ZP
