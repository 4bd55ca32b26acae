"""Calibration's memory and speed, measured on the embedded default VAE (CPU). Prints the figures.

1. Memory: peak resident memory of `calibrate` over 100 and over 1000 images, each in a fresh process. The statistics
   are running moments, so the peak should not grow with the number of images.
2. Throughput: `calibrate` (no preview fit) against a bare loop of `VaeImageProcessor.preprocess` + `vae.encode` +
   posterior sample on the same batches.

    python benchmarks/calibration_memory_throughput.py [--size 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import PIL.Image
import torch


class SyntheticImages(torch.utils.data.Dataset):
    """Images made on demand (never all in memory), so that the dataset size does not change the process's memory."""

    def __init__(self, n: int, size: int):
        self.n, self.size = n, size

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        y, x = np.mgrid[0 : self.size, 0 : self.size] / self.size
        phase = rng.uniform(0, 6.28, size=3)
        array = np.stack([0.5 + 0.4 * np.sin(6 * x + p) * np.cos(4 * y + p) for p in phase], axis=-1)
        array += rng.normal(0, 0.05, array.shape)
        return PIL.Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def memory_child(n: int, size: int) -> None:
    from diffusers_scaled.tools import calibrate, load_vae

    vae = load_vae(None)
    before = peak_rss_mb()
    calibrate(vae, SyntheticImages(n, size), batch_size=8, resolution=size, fit_preview=False, progress=False)
    print(json.dumps({"images": n, "peak_rss_mb": peak_rss_mb(), "peak_before_mb": before}))


def throughput(n: int, size: int, repeats: int = 3) -> dict:
    from diffusers.image_processor import VaeImageProcessor

    from diffusers_scaled.tools import calibrate, load_vae

    vae = load_vae(None).eval()
    images = [SyntheticImages(n, size)[i] for i in range(n)]
    processor = VaeImageProcessor(vae_scale_factor=2 ** (len(vae.config.block_out_channels) - 1))

    def bare():
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for start in range(0, n, 8):
                vae.encode(processor.preprocess(images[start : start + 8])).latent_dist.sample(generator)

    def tool():
        calibrate(vae, images, batch_size=8, resolution=size, fit_preview=False, progress=False)

    timings = {"bare vae.encode": [], "calibrate": []}
    bare()  # warm-up
    for _ in range(repeats):  # interleaved, best of `repeats`: the machine is shared
        for name, fn in (("bare vae.encode", bare), ("calibrate", tool)):
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    best = {name: min(values) for name, values in timings.items()}
    return {name: n / seconds for name, seconds in best.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child is not None:
        memory_child(args.child, args.size)
        return

    print(f"torch {torch.__version__}, {args.threads} thread(s), images {args.size}x{args.size}, batch 8")
    for n in (100, 1000):
        command = [
            sys.executable,
            __file__,
            "--child",
            str(n),
            "--size",
            str(args.size),
            "--threads",
            str(args.threads),
        ]
        env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
        result = json.loads(subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout)
        print(
            f"memory: {n:5d} images: peak RSS {result['peak_rss_mb']:.0f} MB "
            f"(after loading the VAE: {result['peak_before_mb']:.0f} MB)"
        )
    rates = throughput(96, args.size)
    for name, rate in rates.items():
        print(f"throughput: {name:16s} {rate:7.1f} images/s")
    print(f"calibrate / bare: {rates['calibrate'] / rates['bare vae.encode']:.3f}")


if __name__ == "__main__":
    main()
