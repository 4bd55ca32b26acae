"""Reading latents in random order: our sharded cache vs one `.npz` per image (kohya sd-scripts) vs one `.pt` per
image, through a `torch.utils.data.DataLoader` with 2 worker processes.

The cache is encoded from generated images with the embedded VAE (`encode_to_cache`); the `.npz` and `.pt` folders
hold the same latents (and the same size/crop metadata, as kohya stores it). Every layout is read in the same random
order, in batches of `--batch-size`, `--repeats` times; the best pass counts (files in the page cache: this measures
the format, not the disk). Each item is what a training step needs: the latents, the original size and the crop
(kohya's `load_latents_from_disk` reads `latents`, `original_size` and `crop_ltrb` from each `.npz`). All layouts
share one collate function (the latents stacked with `default_collate`, straight into shared memory in a worker).

Two more rows: `cache + collate_latents` (the cache with its own collate function, `add_time_ids` included), and
`DataLoader alone`, a dataset that reads nothing (each item a copy of one latent held in memory): what the DataLoader
itself costs at this batch size and worker count, the ceiling of every layout. Disk: bytes on disk per layout against
the raw tensor bytes.

    python benchmarks/bench_cache_read.py                  # 1,000 latents of 4 x 64 x 64 (SD at 512 px), float32
    python benchmarks/bench_cache_read.py --num 4000 --dtype bfloat16
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import PIL.Image
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from diffusers_scaled.tools import LatentCacheDataset, collate_latents, encode_to_cache, load_cache


def _read_npz(path: str) -> dict:
    with np.load(path) as data:
        return {
            "latents": torch.from_numpy(data["latents"]),
            "original_size": torch.from_numpy(data["original_size"]),
            "crop": torch.from_numpy(data["crop_ltrb"]),
        }


def _read_pt(path: str) -> dict:
    data = torch.load(path, weights_only=True)
    return {"latents": data["latents"], "original_size": data["original_size"], "crop": data["crop"]}


class PerImageFolder(Dataset):
    """One file per image: kohya-style `<index>.npz` (`latents`, `original_size`, `crop_ltrb`) or a `torch.save` dict."""

    def __init__(self, folder: str, n: int, suffix: str):
        self.paths = [os.path.join(folder, f"{i:08d}{suffix}") for i in range(n)]
        self.read = _read_npz if suffix == ".npz" else _read_pt

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.read(self.paths[i])


class NothingRead(Dataset):
    """Reads nothing: each item a copy of one latent held in memory (the DataLoader's own cost)."""

    def __init__(self, latents: torch.Tensor, n: int):
        self.latents, self.n, self.size = latents, n, torch.tensor([256, 256])

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"latents": self.latents.clone(), "original_size": self.size, "crop": self.size}


def _collate(items):
    conditioning = [item.get("crop", item.get("crop_top_left")) for item in items]
    return default_collate([item["latents"] for item in items]), torch.stack(
        [torch.cat([item["original_size"], crop]) for item, crop in zip(items, conditioning)]
    )


def _folder_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(folder) for f in files)


def build(root: str, num: int, side: int, dtype: str, shard_size: int) -> None:
    """Encodes `num` generated images; writes the npz and pt folders."""
    rng = np.random.default_rng(0)
    images = [PIL.Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(num)]
    encode_to_cache(None, images, os.path.join(root, "cache"), resolution=side, shard_size=shard_size, batch_size=16,
                    dtype=dtype, progress=False)  # fmt: skip
    os.makedirs(os.path.join(root, "npz"))
    os.makedirs(os.path.join(root, "pt"))
    for entry, latents in load_cache(os.path.join(root, "cache")):
        name = f"{entry['index']:08d}"
        size = np.array(entry["original_size"])
        if latents.dtype != torch.bfloat16:  # npz cannot hold bfloat16 (a kohya users' complaint)
            np.savez(os.path.join(root, "npz", name), latents=latents.numpy(), original_size=size,
                     crop_ltrb=np.array([0, 0, side, side]))  # fmt: skip
        crop = torch.tensor([0, 0, side, side])
        torch.save(
            {"latents": latents, "original_size": torch.from_numpy(size), "crop": crop},
            os.path.join(root, "pt", f"{name}.pt"),
        )


def read_rate(dataset, order: list[int], batch_size: int, workers: int, repeats: int, collate=_collate) -> float:
    best = float("inf")
    for _ in range(repeats):
        loader = DataLoader(dataset, batch_size=batch_size, sampler=order, num_workers=workers, collate_fn=collate)
        start = time.perf_counter()
        count = sum(len(batch["latents"] if isinstance(batch, dict) else batch[0]) for batch in loader)
        best = min(best, time.perf_counter() - start)
        assert count == len(order)
    return len(order) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num", type=int, default=1000, help="latents (default 1000)")
    parser.add_argument("--side", type=int, default=256, help="image side; latents are side/4 (default 256 -> 64)")
    parser.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default="float32")
    parser.add_argument("--shard-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default=None, help="keep the layouts here and reuse them in later runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        root = args.workdir or scratch
        if not os.path.isdir(os.path.join(root, "pt")):
            start = time.perf_counter()
            build(root, args.num, args.side, args.dtype, args.shard_size)
            print(f"built {args.num} latents in {time.perf_counter() - start:.0f} s")
        raw = sum(t.numel() * t.element_size() for _, t in load_cache(os.path.join(root, "cache")))
        order = torch.randperm(args.num, generator=torch.Generator().manual_seed(0)).tolist()
        latent = next(iter(load_cache(os.path.join(root, "cache"))))[1]
        layouts = {
            "cache (ours)": LatentCacheDataset(os.path.join(root, "cache")),
            "pt per image": PerImageFolder(os.path.join(root, "pt"), args.num, ".pt"),
        }
        if args.dtype != "bfloat16":
            layouts["npz per image"] = PerImageFolder(os.path.join(root, "npz"), args.num, ".npz")
        print(f"{args.num} latents {tuple(latent.shape)} {args.dtype}, random order, batch {args.batch_size}, "
              f"{args.workers} DataLoader workers, best of {args.repeats}, torch threads {torch.get_num_threads()}")  # fmt: skip
        print(f"{'layout':<24}{'latents/s':>10}{'vs npz':>8}{'vs pt':>7}{'disk MB':>9}{'overhead':>10}")
        rates = {}
        folders = {"cache (ours)": "cache", "pt per image": "pt", "npz per image": "npz"}
        for name, dataset in layouts.items():
            rates[name] = read_rate(dataset, order, args.batch_size, args.workers, args.repeats)
        rates["cache + collate_latents"] = read_rate(
            layouts["cache (ours)"], order, args.batch_size, args.workers, args.repeats, collate_latents
        )
        rates["DataLoader alone"] = read_rate(
            NothingRead(latent, args.num), order, args.batch_size, args.workers, args.repeats
        )
        for name, rate in rates.items():
            versus = f"{rate / rates['npz per image']:.1f}x" if "npz per image" in rates else "-"
            line = f"{name:<24}{rate:>10.0f}{versus:>8}{rate / rates['pt per image']:>6.1f}x"
            if name in folders:
                disk = _folder_bytes(os.path.join(root, folders[name]))
                if name == "cache (ours)":
                    disk -= os.path.getsize(os.path.join(root, "cache", "cache.json"))
                line += f"{disk / 1e6:>9.1f}{(disk / raw - 1) * 100:>9.2f}%"
            print(line)


if __name__ == "__main__":
    main()
