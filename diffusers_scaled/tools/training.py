"""Reading a latent cache for training: a `Dataset`, a bucket-aware batch sampler and a collate function.

```
dataset = LatentCacheDataset("latents/")                         # random access, one tensor read per item
sampler = BucketBatchSampler(dataset, batch_size=8, seed=0)       # each batch from one bucket, per-epoch shuffle
loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_latents, num_workers=2)
for epoch in range(epochs):
    sampler.set_epoch(epoch); dataset.set_epoch(epoch)
    for batch in loader: ...                                      # batch["latents"], batch["add_time_ids"], ...
```

The dataset opens each shard with safetensors' `safe_open` (memory-mapped) on first use in each process (DataLoader
workers open their own) and reads only the tensors of the item asked for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch.utils.data import default_collate

from ..scaling import LatentScaling
from . import _cache_layout, _encoding


__all__ = ["BucketBatchSampler", "LatentCacheDataset", "collate_latents", "sample_from_distribution"]


def sample_from_distribution(
    mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""
    A posterior sample from stored moments, drawn by diffusers' own `DiagonalGaussianDistribution.sample` (so with
    the same generator state it equals the sample `vae.encode(...).latent_dist.sample(generator)` drew).

    Args:
        mean (`torch.Tensor`): `(C, h, w)` or `(B, C, h, w)` raw posterior mean.
        logvar (`torch.Tensor`): the matching log-variance.
        generator (`torch.Generator`, *optional*): the generator of the draw.

    Returns:
        `torch.Tensor`: raw latents of `mean`'s shape and dtype (apply the cache's `LatentScaling` for the denoiser).
    """
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    if mean.shape != logvar.shape:
        raise ValueError(
            f"`mean` and `logvar` must have one shape; got {tuple(mean.shape)} and {tuple(logvar.shape)}."
        )
    single = mean.ndim == 3
    parameters = torch.cat([mean, logvar], dim=-3)
    sample = DiagonalGaussianDistribution(parameters[None] if single else parameters).sample(generator)
    return sample[0] if single else sample


class LatentCacheDataset(torch.utils.data.Dataset):
    r"""
    A latent cache as a map-style `torch.utils.data.Dataset`: item `i` is image `i` of the cache.

    Each item is a dict: `latents` (`(C, h, w)`, denoiser latents unless the cache is raw), `original_size`,
    `crop_top_left`, `target_size` (`int64` tensors of 2: `(height, width)` / `(top, left)`, diffusers' SDXL order),
    `index` (the image's index), `flipped` (whether the flipped variant was used) and, when the cache has them,
    `alpha_mask` (`(1, h, w)`, 1 = opaque).

    Args:
        cache_dir (`str`): a finished cache folder (`encode_to_cache` / `diffusers-scaled encode`).
        flip (`bool`, *optional*, defaults to `False`): use the stored flipped latents (and flipped crop offset) for
            half of the items, drawn per item and epoch; requires a cache encoded with `flip=True`.
        seed (`int`, *optional*, defaults to 0): seeds the per-item, per-epoch draws (flip, posterior sample).
        dtype (`torch.dtype`, *optional*): cast the tensors to this dtype (before sampling a `distribution` cache);
            by default they come as stored.

    A cache stored as `distribution` (posterior mean and log-variance) gives a fresh posterior sample of each image in
    each epoch (call `set_epoch`), drawn with `sample_from_distribution` and a generator seeded from `(seed, epoch,
    index)`, then scaled with the cache's `LatentScaling`.
    """

    def __init__(
        self, cache_dir: str | os.PathLike, flip: bool = False, seed: int = 0, dtype: torch.dtype | None = None
    ):
        self.cache_dir = os.fspath(cache_dir)
        index = _cache_layout.read_index(self.cache_dir)
        _cache_layout.require_current_format(index, self.cache_dir)
        self.store = index["store"]
        # the reader scales only the samples it draws from a `distribution` cache (images: a `LatentScaling`)
        scaling = index.get("scaling") if self.store == "distribution" else None
        self.scaling = LatentScaling.from_dict(scaling) if scaling else None
        if flip and not index.get("flip"):
            raise ValueError(f"`flip=True` needs a cache encoded with flipped latents; `{self.cache_dir}` has none.")
        self.flip, self.seed, self.dtype, self.epoch = bool(flip), int(seed), dtype, 0
        self.entries: list[dict] = []
        self._shard_of: list[str] = []
        for name in index["shards"]:
            path = os.path.join(self.cache_dir, name)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"The cache lists `{name}`, which is missing from `{self.cache_dir}`.")
            for entry in _cache_layout.read_shard_metadata(path)["images"]:
                self.entries.append(entry)
                self._shard_of.append(path)
        # per item: original_size, crop_top_left, target_size, crop_top_left_flipped (one tensor, sliced per item)
        self._conditioning = torch.tensor(
            [
                [*e["original_size"], *e["crop_top_left"], *e["target_size"], *e.get("crop_top_left_flipped", [0, 0])]
                for e in self.entries
            ],
            dtype=torch.int64,
        ).reshape(-1, 8)
        self._handles: dict[str, object] = {}
        self._pid = None

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def target_sizes(self) -> list[tuple[int, int]]:
        """Each item's bucket `(height, width)`, for `BucketBatchSampler`."""
        return [tuple(entry["target_size"]) for entry in self.entries]

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch of the per-item draws (flip, posterior sample). Call it before each epoch, with DataLoader
        workers that are not persistent (the default), so each epoch's workers see it."""
        self.epoch = int(epoch)

    def _tensor(self, path: str, name: str) -> torch.Tensor:
        from safetensors import safe_open

        if self._pid != os.getpid():  # a forked DataLoader worker opens its own handles
            self._handles, self._pid = {}, os.getpid()
        handle = self._handles.get(path)
        if handle is None:
            handle = self._handles[path] = safe_open(path, framework="pt")
        tensor = handle.get_tensor(name)
        return tensor if self.dtype is None else tensor.to(self.dtype)

    def __getitem__(self, i: int) -> dict:
        try:
            entry, path = self.entries[i], self._shard_of[i]
        except IndexError:
            raise IndexError(f"index {i} is out of range for a cache of {len(self)} images") from None
        # one copy of the item's row (a view would carry the whole table's storage to the main process); its pairs
        # are views of that copy
        row = self._conditioning[i].clone()
        names = entry["tensors"]
        generator = None
        if self.flip or self.store == "distribution":
            generator = _encoding.derived_generator(self.seed, self.epoch, entry["index"])
        flipped = self.flip and bool(torch.rand((), generator=generator) < 0.5)
        prefix = "flipped" if flipped else "latents"
        latents = self._tensor(path, names[prefix])
        if self.store == "distribution":
            logvar = self._tensor(path, names["flipped_logvar" if flipped else "logvar"])
            latents = sample_from_distribution(latents, logvar, generator)
            if self.scaling is not None:
                latents = self.scaling.scale(latents)
        item = {
            "latents": latents,
            "original_size": row[0:2],
            "crop_top_left": row[6:8] if flipped else row[2:4],
            "target_size": row[4:6],
            "index": entry["index"],
            "flipped": flipped,
        }
        if "alpha_mask" in names:
            mask = self._tensor(path, names["alpha_mask"])
            item["alpha_mask"] = (mask.flip(-1) if flipped else mask)[None]
        return item


_CONDITIONING = ("original_size", "crop_top_left", "target_size")


def collate_latents(items: list[dict]) -> dict:
    r"""
    Stacks `LatentCacheDataset` items into a batch: `latents` `(B, C, h, w)`, `original_size` / `crop_top_left` /
    `target_size` `(B, 2)`, `add_time_ids` `(B, 6)` (their concatenation, as diffusers' SDXL pipelines and training
    script build it; cast it to the UNet's dtype), `index` `(B,)`, `flipped` `(B,)` (bool) and `alpha_mask`
    `(B, 1, h, w)` when the items have one. The integer tensors are views of one `int64` table (fewer tensors to hand
    from DataLoader workers to the main process); `.clone()` one before changing it in place.

    Raises:
        `ValueError`: if the items have different latent shapes (use `BucketBatchSampler`, which batches one bucket).
    """
    shapes = {tuple(item["latents"].shape) for item in items}
    if len(shapes) != 1:
        raise ValueError(
            f"A batch must hold latents of one shape (one bucket); got {sorted(shapes)}. Use `BucketBatchSampler` "
            "as the DataLoader's `batch_sampler`."
        )
    # A DataLoader worker hands each tensor's storage to the main process through its own shared-memory segment: the
    # integers share one table, `(B, 8)`: the three pairs in diffusers' order (`add_time_ids`), index, flipped.
    # `default_collate` stacks the latents straight into shared memory in a worker (no copy on the way out).
    batch = {"latents": default_collate([item["latents"] for item in items])}
    rows = []
    for item in items:
        pairs = [value for key in _CONDITIONING for value in item[key].tolist()]
        rows.append([*pairs, item["index"], item["flipped"]])
    table = torch.tensor(rows)
    batch["add_time_ids"] = table[:, :6]
    for k, key in enumerate(_CONDITIONING):
        batch[key] = table[:, 2 * k : 2 * k + 2]
    batch["index"] = table[:, 6]
    batch["flipped"] = table[:, 7].bool()
    if all("alpha_mask" in item for item in items):
        batch["alpha_mask"] = default_collate([item["alpha_mask"] for item in items])
    return batch


class BucketBatchSampler(torch.utils.data.Sampler):
    r"""
    Batches of indices, each from one bucket, shuffled per epoch with a seed and split across processes.

    Per epoch: each bucket's indices are shuffled and cut into batches of `batch_size` (the last one shorter unless
    `drop_last`), the batches of all buckets are shuffled together, and process `rank` takes batches
    `rank, rank + num_replicas, ...`. Every image is in exactly one batch of one process per epoch (with
    `drop_last=False`); the processes' batch counts then differ by at most one, so under DDP give every process the
    same number of steps (`drop_last=True` and a batch count that divides, or accelerate's `join_uneven_inputs`).

    Args:
        buckets (`LatentCacheDataset` or sequence): the dataset (its `target_sizes`) or each item's bucket key.
        batch_size (`int`): items per batch.
        shuffle (`bool`, *optional*, defaults to `True`): shuffle within buckets and the batch order; `False` keeps
            index order within buckets and buckets in sorted order.
        seed (`int`, *optional*, defaults to 0): seeds the shuffle (with the epoch from `set_epoch`).
        drop_last (`bool`, *optional*, defaults to `False`): drop each bucket's incomplete last batch.
        num_replicas (`int`, *optional*, defaults to 1): number of processes (`accelerator.num_processes`).
        rank (`int`, *optional*, defaults to 0): this process (`accelerator.process_index`).
    """

    def __init__(
        self,
        buckets: LatentCacheDataset | Sequence,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        keys = buckets.target_sizes if isinstance(buckets, LatentCacheDataset) else list(buckets)
        for name, value in (("batch_size", batch_size), ("num_replicas", num_replicas)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"`rank` must be an integer in [0, {num_replicas}); got {rank!r}.")
        self.groups: dict = {}
        for index, key in enumerate(keys):
            self.groups.setdefault(key, []).append(index)
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, int(seed), drop_last
        self.num_replicas, self.rank, self.epoch = num_replicas, rank, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _batches(self) -> list[list[int]]:
        generator = _encoding.derived_generator(self.seed, self.epoch)
        batches = []
        for key in sorted(self.groups):
            indices = self.groups[key]
            if self.shuffle:
                indices = [indices[i] for i in torch.randperm(len(indices), generator=generator).tolist()]
            for start in range(0, len(indices), self.batch_size):
                batch = indices[start : start + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch)
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches[self.rank :: self.num_replicas]

    def __iter__(self):
        return iter(self._batches())

    def __len__(self) -> int:
        sizes = [len(indices) for indices in self.groups.values()]
        total = sum(size // self.batch_size if self.drop_last else -(-size // self.batch_size) for size in sizes)
        return len(range(self.rank, total, self.num_replicas))
