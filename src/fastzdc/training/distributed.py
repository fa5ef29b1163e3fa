"""Data-parallel training over processes: ``torchrun --nproc-per-node N -m fastzdc train ...``.

torchrun starts N processes and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``; :func:`start` joins them into one process group (gloo on the CPU, NCCL on CUDA, where
each process takes GPU ``LOCAL_RANK``). Without those variables the run is one process and nothing here
does anything.

**The batch rule.** The configuration's ``batch_size`` is the *global* batch of one optimiser step,
whatever the number of processes. It is cut into ``batch_parts`` equal parts (default: the number of
processes). The training rows are cut into as many contiguous blocks; part ``p`` of every step draws its
rows from block ``p`` (an epoch visits each block in the order ``default_rng([seed, epoch, p])``) and its
noise from a generator seeded with ``(seed, step, p)``. Process ``r`` of ``W`` computes parts
``r, r + W, ...``, reads only the rows of those blocks, and the gradients are averaged over the processes
(one all-reduce per step: the gradient of the mean loss over the parts). The weights therefore depend on
``batch_size`` and ``batch_parts``, not on the number of processes: a run on 2 processes equals a one-
process run with ``batch_parts = 2`` (to float rounding), and ``--resume`` on any number of processes
that divides ``batch_parts`` continues exactly. With one part (one process, default) the rows and noise
are those of the one-process loop (``default_rng([seed, epoch])``, noise seed ``seed * 1_000_003 + step``).

**The learning-rate rule.** ``lr`` is the peak rate for the global batch; as the global batch does not
change with the number of processes, neither does the rate. A larger global batch (more processes at
the same per-process batch) is a different recipe: raise ``batch_size`` and ``lr`` together (linear
scaling is the usual starting point) and check the validation W.

Buffers (running statistics such as the VQ codebook's EMA) are taken from process 0 after every step, as
DistributedDataParallel does with its default ``broadcast_buffers``. The gradient all-reduce is done
here rather than by wrapping the network in ``DistributedDataParallel``: the model kinds call
sub-networks of the network directly and several times per step, which the wrapper does not see.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ..errors import FastZDCError


@dataclass(frozen=True)
class World:
    """This process's place: ``rank`` of ``size`` processes."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def env_world() -> World:
    """The torchrun environment (``RANK``, ``WORLD_SIZE``), or one process."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
    except ValueError:
        raise FastZDCError("RANK and WORLD_SIZE must be integers") from None
    if not 0 <= rank < size:
        raise FastZDCError(f"RANK {rank} is outside WORLD_SIZE {size}")
    return World(rank, size)


def start(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group torchrun set up (if any); returns the world and this process's device."""
    world = env_world()
    if world.size == 1:
        return world, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=world.rank, world_size=world.size)
    return world, device


def stop(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def part_blocks(n_rows: int, parts: int) -> list[tuple[int, int]]:
    """The contiguous blocks ``[a, b)`` of training rows of the ``parts`` parts.

    >>> part_blocks(10, 3)
    [(0, 3), (3, 6), (6, 10)]
    """
    return [(p * n_rows // parts, (p + 1) * n_rows // parts) for p in range(parts)]


def my_parts(world: World, parts: int) -> list[int]:
    """The parts this process computes."""
    if parts % world.size:
        raise FastZDCError(f"batch_parts {parts} is not a multiple of the {world.size} processes: use a number of "
                           f"processes that divides it, or set batch_parts")
    return list(range(world.rank, parts, world.size))


def held_positions(world: World, parts: int, n_rows: int) -> np.ndarray:
    """The positions in the training split of the rows this process holds: the blocks of its parts, in order.

    >>> held_positions(World(1, 2), 4, 10).tolist()
    [2, 3, 4, 7, 8, 9]
    """
    blocks = part_blocks(n_rows, parts)
    return np.concatenate([np.arange(*blocks[p]) for p in my_parts(world, parts)])


def part_order(seed: int, epoch: int, part: int, parts: int, n: int) -> np.ndarray:
    """The order in which part ``part`` visits its ``n`` rows in ``epoch`` (one part: the one-process order)."""
    key = [seed, epoch] if parts == 1 else [seed, epoch, part]
    return np.random.default_rng(key).permutation(n)


def part_seed(seed: int, step: int, part: int, parts: int) -> int:
    """The noise seed of part ``part`` at ``step`` (one part: the one-process seed)."""
    if parts == 1:
        return seed * 1_000_003 + step
    return int(np.random.SeedSequence([seed, step, part]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def average_gradients(world: World, params: list[torch.nn.Parameter]) -> None:
    """Replace every gradient by its mean over the processes (one flattened all-reduce)."""
    if world.size == 1:
        return
    have = [p for p in params if p.grad is not None]  # the same parameters on every process (same graph)
    if not have:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in have])
    dist.all_reduce(flat)
    flat /= world.size
    pos = 0
    for p in have:
        k = p.grad.numel()
        p.grad.copy_(flat[pos : pos + k].view_as(p.grad))
        pos += k


def mean_over(world: World, value: torch.Tensor) -> torch.Tensor:
    """A scalar averaged over the processes (every process sees the same loss, and the same NaN)."""
    if world.size == 1:
        return value
    value = value.detach().clone().float()
    dist.all_reduce(value)
    return value / world.size


def sync_buffers(world: World, modules: list[torch.nn.Module]) -> None:
    """Every process takes process 0's buffers."""
    if world.size == 1:
        return
    for m in modules:
        for b in m.buffers():
            dist.broadcast(b, 0)


def sync_parameters(world: World, modules: list[torch.nn.Module]) -> None:
    """Every process starts from process 0's parameters."""
    if world.size == 1:
        return
    with torch.no_grad():
        for m in modules:
            for p in m.parameters():
                dist.broadcast(p.data, 0)
