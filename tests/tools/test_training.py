"""Reading a cache for training: Dataset, bucket batch sampler (one and two processes), collate, fresh samples."""

import json
import subprocess
import sys

import pytest
import torch
from fixtures import launcher_env, make_pil_images, tiny_vae_kl

from diffusers_scaled.tools import (
    BucketBatchSampler,
    LatentCacheDataset,
    collate_latents,
    encode_to_cache,
    load_cache,
    sample_from_distribution,
)
from diffusers_scaled.tools._encoding import derived_generator


BUCKETS = [(16, 16), (12, 20), (20, 12)]


def _images():
    """11 images of three aspect ratios (PIL sizes are width x height)."""
    return make_pil_images(5, (40, 24), seed=1) + make_pil_images(4, (24, 40), seed=2) + make_pil_images(2, (30, 30))


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    folder = tmp_path_factory.mktemp("caches")
    vae = tiny_vae_kl()
    kwargs = {"shard_size": 4, "batch_size": 2, "resolution": 16, "buckets": BUCKETS, "progress": False}
    encode_to_cache(vae, _images(), folder / "sample", flip=True, **kwargs)
    encode_to_cache(vae, _images(), folder / "distribution", store="distribution", **kwargs)
    return folder


def test_items_are_the_cache(caches):
    dataset = LatentCacheDataset(caches / "sample")
    assert len(dataset) == 11
    for (entry, latents), i in zip(load_cache(caches / "sample"), range(len(dataset))):
        item = dataset[i]
        assert torch.equal(item["latents"], latents) and item["index"] == entry["index"] == i
        for key in ("original_size", "crop_top_left", "target_size"):
            assert item[key].tolist() == entry[key]
    assert dataset.target_sizes == [(12, 20)] * 5 + [(20, 12)] * 4 + [(16, 16)] * 2


def test_flip_draws_the_stored_flipped_latents(caches):
    dataset = LatentCacheDataset(caches / "sample", flip=True, seed=3)
    stored = {entry["index"]: (entry, tensors) for entry, tensors in load_cache(caches / "sample", all_tensors=True)}
    flips = set()
    for epoch in range(3):
        dataset.set_epoch(epoch)
        for i in range(len(dataset)):
            item = dataset[i]
            entry, tensors = stored[i]
            role, crop = ("flipped", "crop_top_left_flipped") if item["flipped"] else ("latents", "crop_top_left")
            assert torch.equal(item["latents"], tensors[role]) and item["crop_top_left"].tolist() == entry[crop]
            flips.add((epoch, i, item["flipped"]))
    assert {f for _, _, f in flips} == {True, False}
    with pytest.raises(ValueError, match="flipped latents"):
        LatentCacheDataset(caches / "distribution", flip=True)


def test_distribution_cache_draws_a_fresh_scaled_sample_per_epoch(caches):
    dataset = LatentCacheDataset(caches / "distribution", seed=5)
    entry, tensors = next(iter(load_cache(caches / "distribution", all_tensors=True)))
    first = dataset[0]["latents"]
    generator = derived_generator(5, 0, entry["index"])
    expected = dataset.scaling.scale(sample_from_distribution(tensors["latents"], tensors["logvar"], generator))
    assert torch.equal(first, expected)
    assert torch.equal(dataset[0]["latents"], first)  # the same epoch draws the same sample
    dataset.set_epoch(1)
    assert not torch.equal(dataset[0]["latents"], first)


def test_sampler_batches_one_bucket_each_image_once():
    buckets = [(i % 3, 0) for i in range(23)]
    sampler = BucketBatchSampler(buckets, batch_size=4, seed=1)
    orders = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert sorted(i for batch in batches for i in batch) == list(range(23))
        assert all(len({buckets[i] for i in batch}) == 1 and 1 <= len(batch) <= 4 for batch in batches)
        orders.append(batches)
    assert orders[0] != orders[1]
    sampler.set_epoch(0)
    assert list(sampler) == orders[0]  # seeded: the same epoch gives the same order

    shards = [BucketBatchSampler(buckets, 4, seed=1, num_replicas=3, rank=r) for r in range(3)]
    parts = [list(s) for s in shards]
    assert sorted(i for part in parts for batch in part for i in batch) == list(range(23))
    assert [len(p) for p in parts] == [len(s) for s in shards]
    dropped = BucketBatchSampler(buckets, 4, drop_last=True)
    assert all(len(batch) == 4 for batch in dropped) and len(list(dropped)) == len(dropped) == 5
    with pytest.raises(ValueError, match="`rank` must be an integer in"):
        BucketBatchSampler(buckets, 4, num_replicas=2, rank=2)


def test_collate(caches):
    dataset = LatentCacheDataset(caches / "sample")
    batch = collate_latents([dataset[0], dataset[1]])
    assert batch["latents"].shape == (2, 4, 6, 10)
    assert batch["add_time_ids"].tolist() == [
        dataset.entries[i]["original_size"] + dataset.entries[i]["crop_top_left"] + dataset.entries[i]["target_size"]
        for i in (0, 1)
    ]
    with pytest.raises(ValueError, match="one shape"):
        collate_latents([dataset[0], dataset[10]])


_WORKER = r"""
import json, os, sys
import torch, torch.distributed as dist
from torch.utils.data import DataLoader
from diffusers_scaled.tools import BucketBatchSampler, LatentCacheDataset, collate_latents

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
dataset = LatentCacheDataset(sys.argv[1])
sampler = BucketBatchSampler(dataset, batch_size=2, seed=7, num_replicas=world, rank=rank)
loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_latents, num_workers=1)
epochs = []
for epoch in range(2):
    sampler.set_epoch(epoch)
    epochs.append([[batch["index"].tolist(), batch["target_size"].tolist()] for batch in loader])
gathered = [None] * world
dist.all_gather_object(gathered, epochs)
if rank == 0:
    with open(sys.argv[2], "w") as f:
        json.dump(gathered, f)
dist.destroy_process_group()
"""


def test_two_processes_see_each_image_once_per_epoch(caches, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    out = tmp_path / "out.json"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "0"]
    command += [
        "--rdzv_backend",
        "c10d",
        "--rdzv_endpoint",
        "localhost:0",
        str(script),
        str(caches / "sample"),
        str(out),
    ]
    with launcher_env() as env:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    per_rank = json.loads(out.read_text())
    sizes = LatentCacheDataset(caches / "sample").target_sizes
    for epoch in range(2):
        seen = [i for rank in per_rank for indices, _ in rank[epoch] for i in indices]
        assert sorted(seen) == list(range(11))
        for rank in per_rank:
            for indices, targets in rank[epoch]:
                assert len({tuple(t) for t in targets}) == 1 and all(tuple(targets[0]) == sizes[i] for i in indices)
        assert all(rank[epoch] for rank in per_rank)  # both processes got work
    assert per_rank[0][0] != per_rank[0][1]  # reshuffled between epochs
