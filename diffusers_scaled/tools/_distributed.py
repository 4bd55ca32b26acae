"""Which part of a dataset this process handles, and exact merging across processes.

Work is split into numbered units (a batch for calibration, a shard for the cache). Unit `u` belongs to process
`u % world_size`. The units are processed in rounds of `world_size`; after each round every process receives every
unit's partial result and merges them in unit order. A single process runs the same loop with a world size of one, so
the running result is merged in the same order from the same partial results: the multi-process result is bitwise
the single-process one.

Under `accelerate launch` the process group is the one accelerate sets up (gloo on CPU, NCCL on GPUs); without it the
helpers behave as a single process.
"""

from __future__ import annotations

import torch


def _state():
    from accelerate import PartialState

    return PartialState()


def world() -> tuple[int, int]:
    """(process index, number of processes)."""
    if not torch.distributed.is_available():
        return 0, 1
    state = _state()
    return state.process_index, state.num_processes


def is_main_process() -> bool:
    return world()[0] == 0


def gather(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every process's `tensor` (same shape and dtype on all), in process order; `[tensor]` for one process."""
    rank, size = world()
    if size == 1:
        return [tensor]
    state = _state()
    device = state.device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
    local = tensor.to(device)
    parts = [torch.empty_like(local) for _ in range(size)]
    torch.distributed.all_gather(parts, local)
    return [p.cpu() for p in parts]


def barrier() -> None:
    if world()[1] > 1:
        torch.distributed.barrier()
