"""Per-call cost of SDXL's `force_upcast` (a float16 VAE computing in float32): stock vs diffusers-scaled.

The stock SDXL pipelines convert the shared VAE to float32 before decoding and back afterwards (two casts of every
weight per call). diffusers-scaled runs the VAE's own modules with float32 versions of its weights, cast for each call
(one cast, nothing cached that could go stale); releases before it used a float32 copy cached per VAE (no cast after
the first call, but stale after in-place weight changes). Each call is checked to give the stock images first.

The decode is timed on small latents, so that the fixed cost per call (the casts) shows; the full decode time at a
larger size is printed for scale. SDXL's VAE architecture with random weights: speed does not depend on the weights.

    python benchmarks/bench_upcast.py               # the installed diffusers_scaled
    PYTHONPATH=. python benchmarks/bench_upcast.py  # this checkout's
"""

import argparse
import statistics
import time

import numpy as np
import torch
from bench_encode_decode import SD_VAE  # this folder: the script's own
from diffusers import AutoencoderKL

import diffusers_scaled
from diffusers_scaled import ScaledStableDiffusionXLPipeline


SDXL_VAE = {**SD_VAE, "scaling_factor": 0.13025, "force_upcast": True}  # SDXL's VAE has SD's architecture


def make_pipe():
    torch.manual_seed(0)
    vae = AutoencoderKL(**SDXL_VAE).eval().to(torch.float16)
    return ScaledStableDiffusionXLPipeline(
        vae=vae, text_encoder=None, text_encoder_2=None, tokenizer=None, tokenizer_2=None, unet=None, scheduler=None,
    )  # fmt: skip


def stock_decode(pipe, latents):
    """The stock SDXL `__call__`'s decode with `force_upcast`: convert the VAE, decode, convert it back."""
    vae = pipe.vae
    vae.to(dtype=torch.float32)
    image = vae.decode(latents.to(torch.float32) / vae.config.scaling_factor, return_dict=False)[0]
    vae.to(dtype=torch.float16)
    return pipe.image_processor.postprocess(image, output_type="np")


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--size", type=int, default=256, help="image size of the full decode printed for scale")
    args = parser.parse_args()
    pipe = make_pipe()
    parameters = sum(p.numel() for p in pipe.vae.parameters())
    print(
        f"diffusers_scaled from {diffusers_scaled.__file__}; torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"VAE: {parameters / 1e6:.1f}M float16 parameters, force_upcast")
    with torch.no_grad():
        small = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))  # 64x64 images
        assert np.array_equal(pipe.decode_latents(small), stock_decode(pipe, small))
        ours = median_ms(lambda: pipe.decode_latents(small), args.repeats)
        stock = median_ms(lambda: stock_decode(pipe, small), args.repeats)
        cast = median_ms(lambda: [p.float() for p in pipe.vae.parameters()], args.repeats)
        print(f"64x64 decode, median of {args.repeats}: ours {ours:.0f} ms, stock {stock:.0f} ms")
        print(f"one float16 -> float32 cast of every weight: {cast:.0f} ms")
        side = args.size // 8
        large = torch.randn(1, 4, side, side, generator=torch.Generator().manual_seed(1))
        full = median_ms(lambda: pipe.decode_latents(large), 1)
        print(f"{args.size}x{args.size} decode, one call: ours {full:.0f} ms")


if __name__ == "__main__":
    main()
