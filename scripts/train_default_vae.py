"""Trains the small AutoencoderKL that ships with diffusers-scaled (`diffusers_scaled/assets/default_vae/`).

Reproducible on a CPU (3000 steps; about 0.2-0.3 s per step on an idle 2-core machine, 10-15 minutes; the recorded
run took 38 minutes with one thread on a 2-core machine shared with several other CPU-heavy jobs):

    pip install "scikit-image>=0.21"
    python scripts/train_default_vae.py --threads 1

Data: scikit-image's sample images that ship inside its wheel (no download) and whose scikit-image documentation
states CC0 or public domain. Two of them are held out (never trained on) and used for the PSNR evaluation; one of
those, `chelsea`, also ships with this package as the sample image of `diffusers-scaled roundtrip`.

Training: random crops of 64x64 pixels at several scales, flips, 90-degree rotations and colour-channel permutations
(greyscale images randomly tinted); mean squared error on the posterior sample plus the usual small KL term; the
posterior's log-variance starts at -8 so that sampling noise does not swamp a short training run. The weights are saved in float16 (half the
size; the evaluation below is run on the saved, float16-rounded weights loaded back in float32).

The latent scaling (`scaling_factor`) is not trained: at the end the script calibrates the saved VAE on the training
images with `diffusers_scaled.tools.calibrate` and writes the factor into its config (`--calibrate-only` redoes just
that step). Results are reproducible for a given torch version and thread count (CPU kernels round differently with
other thread counts).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import time

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKL


# name -> licence as scikit-image's documentation of `skimage.data.<name>` states it.
TRAIN_IMAGES = {
    "astronaut": "public domain",
    "coffee": "CC0",
    "hubble_deep_field": "public domain (NASA)",
    "retina": "CC0",
    "immunohistochemistry": "no known copyright restrictions",
    "brick": "CC0",
    "grass": "CC0",
    "gravel": "CC0",
    "camera": "CC0",
    "cell": "CC0",
    "coins": "no known copyright restrictions",
    "clock": "public domain",
    "text": "public domain",
    "microaneurysms": "CC0",
}
HELD_OUT_IMAGES = {"chelsea": "CC0", "rocket": "public domain (SpaceX)"}
SAMPLE_IMAGE = "chelsea"

VAE_CONFIG = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 3,
    "up_block_types": ("UpDecoderBlock2D",) * 3,
    "block_out_channels": (32, 64, 64),
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 8,  # 4-8 channels per group: with one channel per group, GroupNorm erases each channel's mean (the colour)
    "sample_size": 256,
    "mid_block_add_attention": False,  # fully convolutional: works at any size, fast on CPU
    "scaling_factor": 1.0,  # placeholder until calibrated
}
SCALES = (1.0, 0.7, 0.5, 0.35, 0.25)


def load_rgb(name: str) -> np.ndarray:
    """A scikit-image sample image as float32 RGB in [0, 1], shape (H, W, 3)."""
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    image = image[..., :3]
    return image.astype(np.float32) / 255.0


def pyramid(image: np.ndarray, crop: int) -> list[np.ndarray]:
    pil = PIL.Image.fromarray((image * 255).round().astype(np.uint8))
    levels = []
    for s in SCALES:
        w, h = round(pil.width * s), round(pil.height * s)
        if min(w, h) >= crop:
            levels.append(np.asarray(pil.resize((w, h), PIL.Image.LANCZOS), dtype=np.float32) / 255.0)
    return levels


def batches(levels: list[tuple[np.ndarray, bool]], batch_size: int, crop: int, rng: np.random.Generator):
    colour = [level for level, is_colour in levels if is_colour]
    grey = [level for level, is_colour in levels if not is_colour]
    while True:
        out = []
        for _ in range(batch_size):
            # Most scikit-image samples are greyscale: draw colour images 3 times in 4, and tint the greyscale ones
            # with a random colour (gain per channel plus an offset) so that the decoder learns colour early.
            pick_colour = rng.random() < 0.75
            pool = colour if pick_colour else grey
            level = pool[rng.integers(len(pool))]
            y = rng.integers(level.shape[0] - crop + 1)
            x = rng.integers(level.shape[1] - crop + 1)
            patch = level[y : y + crop, x : x + crop]
            patch = np.rot90(patch, k=rng.integers(4))
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
            patch = patch[..., rng.permutation(3)]
            if not pick_colour:
                gain = rng.uniform(0.4, 1.0, size=3).astype(np.float32)
                offset = rng.uniform(0.0, 1.0 - gain, size=3).astype(np.float32)
                patch = patch * gain + offset
            out.append(np.ascontiguousarray(patch))
        yield torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2) * 2 - 1


def psnr(vae: AutoencoderKL, image: np.ndarray) -> float:
    """PSNR (dB) of the mode round trip of an image cropped to a multiple of 4, in [0, 1] after clamping."""
    h, w = (image.shape[0] // 4) * 4, (image.shape[1] // 4) * 4
    x = torch.from_numpy(image[:h, :w]).permute(2, 0, 1)[None] * 2 - 1
    with torch.no_grad():
        y = vae.decode(vae.encode(x).latent_dist.mode()).sample
    y = ((y + 1) / 2).clamp(0, 1)
    mse = ((y - (x + 1) / 2) ** 2).mean().item()
    return 10 * math.log10(1.0 / mse)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--output", default=os.path.join(os.path.dirname(__file__), "..", "diffusers_scaled", "assets")
    )
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--kl-weight", type=float, default=1e-6, help="per pixel element, as in the LDM recipe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument(
        "--calibrate-only", action="store_true", help="skip training: calibrate the saved VAE and write its factor"
    )
    args = parser.parse_args()
    if args.calibrate_only:
        torch.set_num_threads(args.threads)
        calibrate_default(os.path.join(args.output, "default_vae"))
        return

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    vae_dir = os.path.join(args.output, "default_vae")
    os.makedirs(vae_dir, exist_ok=True)

    levels = []
    for name in TRAIN_IMAGES:
        image = load_rgb(name)
        is_colour = bool(np.abs(image - image.mean(axis=-1, keepdims=True)).max() > 0.02)
        levels += [(level, is_colour) for level in pyramid(image, args.crop)]
    held_out = {name: load_rgb(name) for name in HELD_OUT_IMAGES}
    vae = AutoencoderKL(**VAE_CONFIG)
    with torch.no_grad():
        # Start with a narrow posterior (std ~0.02 instead of ~1): with unit-variance sampling noise the decoder first
        # has to wait for the encoder to outgrow it, which costs most of a short CPU training run.
        channels = VAE_CONFIG["latent_channels"]
        vae.quant_conv.bias[channels:].fill_(-8.0)
        vae.quant_conv.weight[channels:].mul_(0.1)
    optimizer = torch.optim.Adam(vae.parameters(), lr=args.lr)
    warmup = 100

    def lr_at(step):  # linear warm-up, then cosine decay to 1% of the peak
        if step < warmup:
            return args.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))

    data = batches(levels, args.batch_size, args.crop, rng)
    start = time.time()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        x = next(data)
        posterior = vae.encode(x).latent_dist
        y = vae.decode(posterior.sample()).sample
        mse = ((y - x) ** 2).mean()
        kl = posterior.kl().mean() / x[0].numel()
        loss = mse + args.kl_weight * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            print(
                f"step {step} loss {loss.item():.5f} mse {mse.item():.5f} kl {kl.item():.4f} {time.time() - start:.0f}s",
                flush=True,
            )
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            vae.eval()
            scores = {name: round(psnr(vae, image), 2) for name, image in held_out.items()}
            vae.train()
            print(f"step {step + 1} held-out PSNR {scores} {time.time() - start:.0f}s", flush=True)
            copy.deepcopy(vae).to(torch.float16).save_pretrained(vae_dir)

    seconds = time.time() - start
    vae = AutoencoderKL.from_pretrained(vae_dir, torch_dtype=torch.float32).eval()
    scores = {name: round(psnr(vae, image), 2) for name, image in held_out.items()}
    print(f"final held-out PSNR (float16 weights) {scores}, trained in {seconds:.0f}s", flush=True)

    sample = (held_out[SAMPLE_IMAGE] * 255).round().astype(np.uint8)
    PIL.Image.fromarray(sample).save(os.path.join(args.output, f"{SAMPLE_IMAGE}.png"), optimize=True)
    with open(os.path.join(vae_dir, "training.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                "script": "scripts/train_default_vae.py",
                "arguments": {k: v for k, v in vars(args).items() if k != "output"},
                "torch": torch.__version__,
                "train_images": TRAIN_IMAGES,
                "held_out_images": HELD_OUT_IMAGES,
                "held_out_psnr_db": scores,
                "train_seconds": round(seconds),
            },
            f,
            indent=2,
        )
    calibrate_default(vae_dir)


def calibrate_default(vae_dir: str) -> None:
    """Calibrates the saved VAE on the training images (each at its own size, posterior samples) and writes the
    factor into its config and the statistics (with the preview map) into `calibration.json`."""
    from diffusers_scaled.tools import calibrate

    vae = AutoencoderKL.from_pretrained(vae_dir, torch_dtype=torch.float32).eval()
    images = [load_rgb(name) for name in TRAIN_IMAGES]
    result = calibrate(vae, images, batch_size=1, resolution=None, sample_mode="sample", seed=0, progress=False)
    result.vae["name"] = "diffusers-scaled/default-vae"
    print(result.summary(), flush=True)
    # Written into the float16 weights as stored: only `scaling_factor` changes in the config.
    result.write_to_vae(AutoencoderKL.from_pretrained(vae_dir, torch_dtype=torch.float16), vae_dir)


if __name__ == "__main__":
    main()
