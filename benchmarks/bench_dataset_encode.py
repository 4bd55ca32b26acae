"""Dataset encoding, end to end: a folder of JPEG files in -> latents out, stock loops vs `encode_to_cache`.

The stock loops are what a diffusers user writes: per image (or per batch), open the file, resize and centre-crop it,
`VaeImageProcessor.preprocess`, `vae.encode(...).latent_dist.mode() * scaling_factor`, keep the latents. Ours is
`diffusers_scaled.tools.encode_to_cache` (which also writes the safetensors shards) with and without reader threads
and the compiled VAE. Each configuration runs once as a warm-up (compilation included, reported separately) and is then
timed over the whole folder `--repeats` times, in alternation (median).

Before timing, the latents are compared: ours (eager) must equal the stock batched loop's bitwise, and the compiled
path must agree with eager within the printed relative difference.

    python benchmarks/bench_dataset_encode.py                        # tiny VAE and SD VAE, CPU (and CUDA if present)
    python benchmarks/bench_dataset_encode.py --vae sd --images 16 --resolution 128
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch
from bench_encode_decode import SD_VAE, TINY_VAE, sync
from diffusers import AutoencoderKL
from diffusers.image_processor import VaeImageProcessor

from diffusers_scaled.tools import encode_to_cache, load_cache, sample_image_path


def write_folder(folder, n, seed=0):
    """`n` photo-like JPEG files (640x480 crops of the bundled sample photo, flipped and tinted) in `folder`."""
    rng = np.random.default_rng(seed)
    photo = np.asarray(PIL.Image.open(sample_image_path()).convert("RGB").resize((960, 720)), dtype=np.float32)
    for i in range(n):
        y, x = rng.integers(0, 240), rng.integers(0, 320)
        crop = photo[y : y + 480, x : x + 640] * rng.uniform(0.8, 1.2, size=3)
        crop = crop[:, ::-1] if i % 2 else crop
        PIL.Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8)).save(
            os.path.join(folder, f"{i:05d}.jpg"), quality=90
        )
    return sorted(os.path.join(folder, name) for name in os.listdir(folder))


def stock_loop(vae, files, resolution, batch_size, device):
    processor = VaeImageProcessor(vae_scale_factor=2 ** (len(vae.config.block_out_channels) - 1))
    latents = []
    for start in range(0, len(files), batch_size):
        batch = []
        for path in files[start : start + batch_size]:
            with PIL.Image.open(path) as image:
                image = PIL.ImageOps.exif_transpose(image).convert("RGB")
            batch.append(PIL.ImageOps.fit(image, (resolution, resolution), PIL.Image.BICUBIC))
        pixels = processor.preprocess(batch).to(device, vae.dtype)
        latents.append((vae.encode(pixels).latent_dist.mode() * vae.config.scaling_factor).cpu())
    return torch.cat(latents)


def ours(vae, folder, resolution, batch_size, num_workers, compile, out):
    encode_to_cache(
        vae, folder, out, batch_size=batch_size, resolution=resolution, sample_mode="argmax", progress=False,
        num_workers=num_workers, compile=compile, shard_size=10**6,
    )  # fmt: skip
    return torch.stack([t for _, t in load_cache(out)])


@torch.no_grad()
def run(name, vae_config, device, dtype, resolution, n, batch_size, repeats):
    torch.manual_seed(0)
    vae = AutoencoderKL(**vae_config).to(device, dtype).eval()
    with tempfile.TemporaryDirectory() as work:
        folder = os.path.join(work, "images")
        os.makedirs(folder)
        files = write_folder(folder, n)
        counter = iter(range(10**9))

        def cache_dir():
            return os.path.join(work, f"cache-{next(counter)}")  # a fresh folder: nothing resumed

        configs = {
            "stock loop, per image": lambda: stock_loop(vae, files, resolution, 1, device),
            f"stock loop, batches of {batch_size}": lambda: stock_loop(vae, files, resolution, batch_size, device),
            "ours, no reader threads": lambda: ours(vae, folder, resolution, batch_size, 0, False, cache_dir()),
            "ours, 2 reader threads": lambda: ours(vae, folder, resolution, batch_size, 2, False, cache_dir()),
            "ours, 2 threads + compile": lambda: ours(vae, folder, resolution, batch_size, 2, True, cache_dir()),
        }
        outputs, warmup_s = {}, {}
        for label, fn in configs.items():
            sync(device)
            start = time.perf_counter()
            outputs[label] = fn()
            sync(device)
            warmup_s[label] = time.perf_counter() - start
        reference = outputs[f"stock loop, batches of {batch_size}"]
        assert torch.equal(outputs["ours, no reader threads"].to(reference.dtype), reference), "latents differ"
        assert torch.equal(outputs["ours, 2 reader threads"].to(reference.dtype), reference), "latents differ"
        compiled = outputs["ours, 2 threads + compile"].float()
        compiled_diff = ((compiled - reference.float()).abs().max() / reference.float().abs().max()).item()

        times = {label: [] for label in configs}
        for _ in range(repeats):
            for label, fn in configs.items():
                sync(device)
                start = time.perf_counter()
                fn()
                sync(device)
                times[label].append(time.perf_counter() - start)

    where = f"{name}, {device.type} {str(dtype).replace('torch.', '')}, {n} JPEG 640x480 -> {resolution}x{resolution}"
    print(f"\n{where}, batch {batch_size}, median of {repeats}")
    base = n / statistics.median(times["stock loop, per image"])
    print(f"{'configuration':<34}{'img/s':>9}{'vs per-image':>14}{'first run s':>13}")
    for label in configs:
        ips = n / statistics.median(times[label])
        print(f"{label:<34}{ips:>9.1f}{ips / base:>14.2f}{warmup_s[label]:>13.1f}")
    print(f"compiled vs eager latents: max relative difference {compiled_diff:.2e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vae", choices=["tiny", "sd", "both"], default="both")
    parser.add_argument("--images", type=int, default=None, help="images in the folder (default: per configuration)")
    parser.add_argument("--resolution", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    cpu, configs = torch.device("cpu"), []
    if args.vae in ("tiny", "both"):
        configs.append(("tiny VAE", TINY_VAE, cpu, torch.float32, args.resolution or 256, args.images or 64))
    if args.vae in ("sd", "both"):
        configs.append(("SD VAE", SD_VAE, cpu, torch.float32, args.resolution or 128, args.images or 16))
    if torch.cuda.is_available():
        cuda = torch.device("cuda")
        configs.append(("SD VAE", SD_VAE, cuda, torch.float16, args.resolution or 512, args.images or 256))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    for config in configs:
        run(*config, batch_size=args.batch_size, repeats=args.repeats)


if __name__ == "__main__":
    main()
