"""Encode an image to latents and decode it back through a VAE: prints the PSNR and the latent statistics and writes
a comparison picture (original, reconstruction, difference, latent channels, histograms of the latent values before
and after scaling).

With no arguments it uses the small VAE embedded in the package and a sample image it never saw in training
(scikit-image's `chelsea`, CC0), so it needs no download.

Examples:
  diffusers-scaled roundtrip
  diffusers-scaled roundtrip photo.jpg --output photo_roundtrip.png
  diffusers-scaled roundtrip photo.jpg --model stabilityai/sd-vae-ft-mse
"""

from __future__ import annotations

import math

from . import _common


HELP = "image -> latents -> image: PSNR and a comparison picture"


def add_arguments(parser):
    parser.add_argument("image", nargs="?", default=None, help="image file (default: the embedded sample image)")
    _common.add_model_arguments(parser)
    parser.add_argument(
        "--output", default="roundtrip.png", help="comparison picture to write (default roundtrip.png)"
    )
    _common.add_sample_mode_argument(
        parser, default="argmax", why="so that the picture shows the VAE's reconstruction, not one sample's noise"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the posterior sample (default 0)")
    parser.add_argument(
        "--max-size",
        type=_common.positive_int,
        default=768,
        help="downscale images whose longer side exceeds this many pixels (default 768)",
    )


def psnr(original, reconstruction) -> float:
    """PSNR in dB of two images in [0, 1] (numpy arrays)."""
    import numpy as np

    mse = float(np.mean((original.astype(np.float64) - reconstruction.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def roundtrip(vae, image, sample_mode: str = "argmax", seed: int = 0) -> dict:
    """Runs the round trip of a PIL image through the library's own encode/decode path (`VaeCodec`) and returns its
    arrays."""
    import torch

    from ..vae_codec import IDENTITY, VaeCodec

    codec = VaeCodec(vae)
    scaling = codec.latent_scaling
    with torch.no_grad():
        # Raw latents through the same path with an identity scaling, then the config's scaling: exactly the
        # arithmetic of `codec.encode_latents` (encode, cast, scale), with the raw values kept for the histogram.
        raw = VaeCodec(vae, codec.image_processor, IDENTITY).encode_latents(
            image, generator=torch.Generator().manual_seed(seed), sample_mode=sample_mode
        )
        scaled = scaling.scale(raw)
        reconstruction = codec.decode_latents(scaled, output_type="np")[0]
        original = codec.image_processor.postprocess(codec.image_processor.preprocess(image), output_type="np")[0]
    return {
        "original": original,
        "reconstruction": reconstruction,
        "raw": raw[0].float().cpu().numpy(),
        "scaled": scaled[0].float().cpu().numpy(),
        "scaling": scaling,
        "psnr": psnr(original, reconstruction),
    }


def run(args) -> int:
    if args.image is not None:
        _common.check_input_file(args.image, "`image`")
    _common.check_output_file(args.output, "`--output`")  # both before the heavy imports: a bad path fails at once

    import PIL.Image

    from ..tools import read_image, sample_image_path
    from ._picture import comparison_picture

    path = args.image or sample_image_path()
    image = read_image(path)
    if max(image.size) > args.max_size:
        image.thumbnail((args.max_size, args.max_size), PIL.Image.LANCZOS)
    vae = _common.load(args)
    result = roundtrip(vae, image, sample_mode=args.sample_mode, seed=args.seed)
    scaling = result["scaling"]
    scaling_text = scaling.describe()
    raw, scaled = result["raw"], result["scaled"]
    picture = comparison_picture(
        result["original"], result["reconstruction"], raw, scaled, scaling_text, result["psnr"]
    )
    picture.save(args.output)
    h, w = result["original"].shape[:2]
    print(f"model:   {_common.model_name(args)} ({type(vae).__name__})")
    print(f"image:   {path} ({w}x{h})")
    print(f"latents: {tuple(raw.shape)}  raw mean {raw.mean():.4f} std {raw.std():.4f}")
    print(f"scaling: {scaling_text} -> scaled mean {scaled.mean():.4f} std {scaled.std():.4f}")
    print(f"PSNR:    {result['psnr']:.2f} dB")
    print(f"picture: {args.output}")
    return 0
