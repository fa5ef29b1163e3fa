"""The noise stream draws only the rows it is asked for, and every row keeps the value it has in a block
drawn whole: PyTorch's CPU randn prefix and continuation properties for every shipped noise shape."""

from __future__ import annotations

import math

import pytest
import torch

from fastzdc.sampling.noise import NOISE_BLOCK, NoiseStream, row_step

SHIPPED_SHAPES = [(1, 44, 44), (1, 56, 30), (2, 11, 11), (2, 14, 8)]
"""FM and students (ZN, ZP) and the latent FM / VQ-GAN noise grids (ZN, ZP)"""


def whole_block(seed: int, shape: tuple[int, ...], k: int = 0) -> torch.Tensor:
    """Block k drawn in one call, as the stream's definition states it."""
    gen = torch.Generator().manual_seed((seed * 1_000_003 + k) % (2**63))
    return torch.randn((NOISE_BLOCK, *shape), generator=gen)


@pytest.mark.parametrize("shape", SHIPPED_SHAPES)
def test_randn_prefix_and_continuation(shape):
    full = whole_block(5, shape)
    step = row_step(shape)
    assert (step * math.prod(shape)) % 16 == 0 and NOISE_BLOCK % step == 0
    for rows in (step, 3 * step, 40 * step):
        gen = torch.Generator().manual_seed(5 * 1_000_003)
        head = torch.randn((rows, *shape), generator=gen)
        assert torch.equal(head, full[:rows])
        tail = torch.randn((2 * step, *shape), generator=gen)  # continued from the state: the next rows
        assert torch.equal(tail, full[rows : rows + 2 * step])


def test_row_step_values():
    assert [row_step(s) for s in SHIPPED_SHAPES] == [1, 1, 8, 1]
    assert row_step((3,)) == 16


@pytest.mark.parametrize("shape", SHIPPED_SHAPES)
def test_stream_rows_equal_whole_blocks(shape, one_torch_thread):
    ref = torch.cat([whole_block(7, shape, 0), whole_block(7, shape, 1)])
    s = NoiseStream(7, shape)
    for a, b in [(0, 1), (1, 3), (3, 300), (300, 1030), (1030, 1031), (5, 6), (1500, 2048)]:  # forwards, backwards, across blocks
        assert torch.equal(s.rows(a, b), ref[a:b]), (a, b)
    for a in (0, 9, 1023, 1024, 2047):
        assert torch.equal(NoiseStream(7, shape).rows(a, a + 1), ref[a : a + 1]), a


def test_one_row_draws_one_step_not_a_block():
    s = NoiseStream(11, (1, 44, 44))
    s.rows(0, 1)
    assert len(s._cache[2]) == 1
    s.rows(0, 200)
    assert len(s._cache[2]) == 200
    z = NoiseStream(11, (2, 11, 11))
    z.rows(2, 3)
    assert len(z._cache[2]) == 8
