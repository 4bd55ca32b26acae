"""The latent cache on a local Ray cluster: images/s of `encode_to_cache_ray` with 1 and 2 CPU actors, beside the
single-process `encode_to_cache`, on the same folder and settings.

A folder of 640x480 JPEG files (as in `bench_dataset_encode.py`) is encoded by a VAE of SD's architecture (random
weights) at 128x128, in shards of `--shard-size`; every run writes a fresh cache, and every cache must be the
single-process one byte for byte. The figure is images / the whole call: the actors' start-up included (each
imports torch and diffusers and receives the VAE), which longer runs amortize.

Ray starts once (`ray.init(num_cpus=2)`, not timed); each actor holds one CPU, so torch runs one thread per actor
(Ray sets `OMP_NUM_THREADS=1`); the single process runs with 2 torch threads, then 1.

    python benchmarks/bench_ray_cache.py                 # 48 images, shards of 8
    python benchmarks/bench_ray_cache.py --images 96 --shard-size 8
"""

import argparse
import os
import tempfile
import time

import ray
import torch
from bench_dataset_encode import write_folder
from bench_encode_decode import SD_VAE
from diffusers import AutoencoderKL

from diffusers_scaled.tools import encode_to_cache, encode_to_cache_ray


def files(folder) -> dict:
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--shard-size", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--resolution", type=int, default=128)
    args = parser.parse_args()

    torch.manual_seed(0)
    vae = AutoencoderKL(**SD_VAE).eval()
    settings = {"shard_size": args.shard_size, "batch_size": args.batch_size, "resolution": args.resolution}
    settings["progress"] = False
    with tempfile.TemporaryDirectory() as root:
        folder = os.path.join(root, "images")
        os.makedirs(folder)
        write_folder(folder, args.images)

        load = os.getloadavg()[0]
        singles = []
        for threads in (2, 1):
            torch.set_num_threads(threads)
            start = time.perf_counter()
            out = os.path.join(root, f"single{threads}")
            encode_to_cache(vae, folder, out, num_workers=2, **settings)
            singles.append((threads, args.images / (time.perf_counter() - start)))
        reference = files(out)
        assert files(os.path.join(root, "single2")) == reference

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        rows = []
        for actors in (1, 2):
            start = time.perf_counter()
            out = os.path.join(root, f"ray{actors}")
            encode_to_cache_ray(vae, folder, out, num_actors=actors, **settings)
            rate = args.images / (time.perf_counter() - start)
            assert files(out) == reference, "the Ray cache differs from the single-process cache"
            rows.append((f"Ray Data, {actors} CPU actor{'s' if actors > 1 else ''}", rate))
        ray.shutdown()
    load = f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (2 cores)"

    print(
        f"SD-architecture VAE, cpu float32, {args.images} JPEG 640x480 -> {args.resolution}x{args.resolution}, "
        f"batch {args.batch_size}, shards of {args.shard_size}; every cache byte-identical to the single-process one"
    )
    print(load)
    print(f"{'configuration':38}{'img/s':>8}")
    for threads, rate in singles:
        print(f"{f'encode_to_cache, 1 process, {threads} thread' + ('s' if threads > 1 else ''):38}{rate:8.2f}")
    for name, rate in rows:
        print(f"{name:38}{rate:8.2f}")


if __name__ == "__main__":
    main()
