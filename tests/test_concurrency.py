"""Under load: one pipeline shared by 8 threads serving `encode_latents` / `decode_latents`.

The requests mix PIL, numpy and tensor images, both sample modes, single and per-image generators, and the three output
types; some are bad inputs and some meet a fault injected into the VAE (a forward pre-hook, a documented torch hook,
that raises for batches of `FAULTY_BATCH` images). Every good request must give exactly what the same request gives
when run alone, every bad or faulty one exactly its own error, and afterwards the pipeline must be unchanged and the
process no bigger than after the first round.
"""

from __future__ import annotations

import contextlib
import gc
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import PIL.Image
import psutil
import pytest
import torch
from fixtures import generator, make_pil_images, sd_components, sdxl_components

from diffusers_scaled import ScaledStableDiffusionImg2ImgPipeline, ScaledStableDiffusionXLImg2ImgPipeline


THREADS = 8
CALLS = 240  # per round
ROUNDS = 3  # the first warms the allocator and torch's caches; the later ones must not grow
FAULTY_BATCH = 3  # the injected fault fires for batches of this many images
RSS_GROWTH_LIMIT = 8 * 2**20  # bytes, between the end of the first round and the end of the last
DOCS = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "reliability.md")


class InjectedFault(RuntimeError):
    pass


def inject_faults(module: torch.nn.Module, where: str):
    def hook(_, args):
        if args[0].shape[0] == FAULTY_BATCH:
            raise InjectedFault(f"injected fault in the VAE {where}")

    return module.register_forward_pre_hook(hook)


def make_requests():
    """CALLS requests: (method name, args, kwargs, expected error type or None)."""
    images = make_pil_images(4, (16, 16), seed=11)
    arrays = np.stack([np.asarray(i, dtype=np.float32) / 255 for i in images])
    tensors = torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous()
    latents = torch.randn(4, 4, 4, 8, 8, generator=generator(5))
    kinds = [
        lambda i: ("encode_latents", (images[i % 4],), {"generator": generator(i)}, None),
        lambda i: ("encode_latents", (images[:2],), {"generator": [generator(i), generator(i + 1)]}, None),
        lambda i: ("encode_latents", (arrays[i % 4],), {"sample_mode": "argmax"}, None),
        lambda i: ("encode_latents", (tensors[:2],), {"generator": generator(i)}, None),
        lambda i: ("decode_latents", (latents[i % 4, :1],), {"output_type": "np"}, None),
        lambda i: ("decode_latents", (latents[i % 4, :2],), {"output_type": "pt"}, None),
        lambda i: ("decode_latents", (latents[i % 4, :1],), {"output_type": "pil"}, None),
        lambda i: ("decode_latents", (latents[i % 4, :FAULTY_BATCH],), {}, InjectedFault),
        lambda i: ("encode_latents", (images[:FAULTY_BATCH],), {"generator": generator(i)}, InjectedFault),
        lambda i: ("decode_latents", (tensors[:1],), {}, ValueError),  # an image given to decode
        lambda i: ("encode_latents", (tensors[:1] * 255,), {}, ValueError),  # 0-255 floats
        lambda i: ("encode_latents", ([],), {}, ValueError),
    ]
    return [kinds[i % len(kinds)](i) for i in range(CALLS)]


def call(pipe, request):
    name, args, kwargs, _ = request
    # Generators are stateful: each call gets fresh copies, so a request gives the same result whenever it runs.
    kwargs = {k: _fresh(v) for k, v in kwargs.items()}
    try:
        with torch.no_grad():
            return getattr(pipe, name)(*args, **kwargs)
    except Exception as error:  # the outcome under test: recorded, then compared
        return error


def _fresh(value):
    if isinstance(value, torch.Generator):
        return torch.Generator().set_state(value.get_state())
    if isinstance(value, list) and value and isinstance(value[0], torch.Generator):
        return [_fresh(v) for v in value]
    return value


def same(a, b) -> bool:
    if isinstance(a, Exception) or isinstance(b, Exception):
        return type(a) is type(b) and str(a) == str(b)
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(
                isinstance(x, PIL.Image.Image) and np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b)
            )
        )
    return False


def snapshot(pipe) -> dict:
    return {
        "config": dict(pipe.vae.config),
        "state": {k: v.clone() for k, v in pipe.vae.state_dict().items()},
        "dtype": pipe.vae.dtype,
        "device": pipe.vae.device,
        "training": pipe.vae.training,
    }


@contextlib.contextmanager
def one_intra_op_thread():
    """One intra-op thread per request thread, as servers with a worker pool run torch (8 workers with 2 intra-op
    threads each on 2 cores mostly spin). The sequential reference runs with the same setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def live_tensor_count() -> int:
    gc.collect()
    return sum(issubclass(type(o), torch.Tensor) for o in gc.get_objects())


def rss() -> int:
    return psutil.Process().memory_info().rss  # after `live_tensor_count`, which collects garbage


@pytest.fixture(scope="module")
def pipe():
    pipe = ScaledStableDiffusionImg2ImgPipeline(**sd_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_shared_pipeline_under_load_equals_sequential_calls(pipe):
    requests = make_requests()
    hooks = [inject_faults(pipe.vae.decoder, "decoder"), inject_faults(pipe.vae.encoder, "encoder")]
    try:
        with one_intra_op_thread():
            before = snapshot(pipe)
            sequential = [call(pipe, request) for request in requests]
            for request, result in zip(requests, sequential):
                expected_error = request[3]
                if expected_error is None:
                    assert not isinstance(result, Exception), result
                else:
                    assert type(result) is expected_error, result

            sizes, live_tensors = [], []
            with ThreadPoolExecutor(THREADS) as pool:  # one pool for every round, as a server keeps its workers
                for _ in range(ROUNDS):
                    concurrent = list(pool.map(lambda r: call(pipe, r), requests))
                    mismatches = [i for i, (a, b) in enumerate(zip(concurrent, sequential)) if not same(a, b)]
                    assert not mismatches, (
                        f"{len(mismatches)} of {CALLS} concurrent results differ, first: {requests[mismatches[0]]}"
                    )
                    del concurrent
                    live_tensors.append(live_tensor_count())
                    sizes.append(rss())
    finally:
        for hook in hooks:
            hook.remove()

    after = snapshot(pipe)
    assert after["config"] == before["config"]
    assert after["dtype"] == before["dtype"] and after["device"] == before["device"]
    assert after["training"] == before["training"]
    assert after["state"].keys() == before["state"].keys()
    assert all(torch.equal(after["state"][k], before["state"][k]) for k in before["state"])
    # Nothing retained: as many live tensors after the last round as after the first, and the process no bigger than
    # allocator noise (the first round warms the allocator's per-thread arenas and torch's caches).
    assert live_tensors[-1] == live_tensors[0], f"live tensors after each round: {live_tensors}"
    growth = sizes[-1] - sizes[0]
    print(f"RSS after each round (MiB): {[round(s / 2**20, 1) for s in sizes]}; live tensors: {live_tensors}")
    assert growth <= RSS_GROWTH_LIMIT, f"RSS grew by {growth / 2**20:.1f} MiB over {ROUNDS - 1} rounds: {sizes}"


def upcast_requests():
    return [r for r in make_requests()[:48] if r[3] is None]


def test_shared_fp16_upcast_vae_under_load(pipe):
    # SDXL's `force_upcast`: the stock pipelines convert the shared VAE to float32 and back around each call, which
    # races between threads. Here a float16 VAE stays float16 while 8 threads encode and decode through its float32
    # copy, and every result equals the sequential one.
    sdxl = ScaledStableDiffusionXLImg2ImgPipeline(**sdxl_components())
    sdxl.vae.to(torch.float16)
    assert sdxl.honour_force_upcast and sdxl.vae.config.force_upcast
    requests = upcast_requests()
    with one_intra_op_thread():
        sequential = [call(sdxl, r) for r in requests]
        assert not any(isinstance(r, Exception) for r in sequential)
        with ThreadPoolExecutor(THREADS) as pool:
            concurrent = list(pool.map(lambda r: call(sdxl, r), requests))
    assert all(same(a, b) for a, b in zip(concurrent, sequential))
    assert sdxl.vae.dtype == torch.float16


def test_leak_detector_sees_a_retained_result(pipe):
    # Control for the check above: results kept alive by a caller show up in the live-tensor count.
    latents = torch.randn(1, 4, 8, 8, generator=generator(0))
    before, kept = live_tensor_count(), []
    with torch.no_grad():
        for _ in range(5):
            kept.append(pipe.decode_latents(latents, output_type="pt"))
    assert live_tensor_count() - before == 5


def test_counts_match_the_docs():
    requests = make_requests()
    faults = sum(r[3] is InjectedFault for r in requests)
    bad = sum(r[3] is ValueError for r in requests)
    with open(DOCS, encoding="utf-8") as f:
        page = f.read()
    for figure in (
        f"{CALLS} requests",
        f"{THREADS} threads",
        f"{ROUNDS} rounds",
        f"{faults} faults injected",
        f"{bad} bad inputs",
        f"{len(upcast_requests())} requests on an SDXL pipeline",
    ):
        assert figure in page, f"docs/reliability.md does not say {figure!r}"
