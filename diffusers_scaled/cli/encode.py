"""Encode a folder of images into a latent cache: sharded safetensors files with metadata (VAE identity, scaling
applied, per image its source, content hash, original size, crop and bucket). Resumable: run the same command again
after an interruption and it writes only the shards that are missing. Runs unchanged under `accelerate launch`
(processes write disjoint shards).

Examples:
  diffusers-scaled encode ./images ./latents
  diffusers-scaled encode ./images ./latents --model stabilityai/sdxl-vae --resolution 1024 --buckets sdxl --flip
  diffusers-scaled encode ./images ./latents --store distribution --store-dtype bfloat16
  diffusers-scaled encode ./images ./latents --append          # encode only images the cache does not hold
  accelerate launch --num_processes 2 -m diffusers_scaled.cli encode ./images ./latents
  diffusers-scaled encode ./images ./latents --engine ray   # a Ray cluster (RAY_ADDRESS), or a local one
  diffusers-scaled encode ./clips ./latents --model Wan-AI/Wan2.1-T2V-1.3B-Diffusers --num-frames 33 --resolution 480
"""

from __future__ import annotations

import argparse

from . import _common


HELP = "encode a folder of images into a resumable sharded latent cache"
INTERRUPTED = "the finished shards are kept; run the same command again to resume"


def buckets(value: str):
    """`none`, `sdxl`, `generate`, or `HxW,HxW,...` (height x width)."""
    if value.lower() in ("none", "sdxl", "generate"):
        return None if value.lower() == "none" else value.lower()
    try:
        pairs = [tuple(int(side) for side in size.lower().split("x")) for size in value.split(",")]
    except ValueError:
        pairs = []
    if not pairs or any(len(pair) != 2 or min(pair) < 1 for pair in pairs):
        raise argparse.ArgumentTypeError(
            f"expected 'none', 'sdxl', 'generate' or sizes like '512x768,768x512' (height x width), got {value!r}"
        )
    return pairs


def add_arguments(parser):
    parser.add_argument(
        "images",
        help="folder of images (read recursively) or one image file; with --num-frames a folder of video clips "
        "(video files, sub-folders of frames) or one video file",
    )
    parser.add_argument("output_dir", help="cache folder (created; an unfinished cache there is completed)")
    _common.add_model_arguments(parser)
    _common.add_encoding_arguments(parser)
    parser.add_argument("--shard-size", type=_common.positive_int, default=256, help="images per shard (default 256)")
    parser.add_argument(
        "--raw", action="store_true", help="store raw VAE latents instead of scaled (denoiser) latents"
    )
    group = parser.add_argument_group("engine")
    group.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process (or each process under accelerate launch); ray: a Ray Data pipeline on the Ray "
        "cluster at RAY_ADDRESS, or a local one; the same cache either way (default: local)",
    )
    group.add_argument(
        "--actors",
        type=_common.positive_int,
        default=None,
        help="ray: encoder actors (default: one per GPU of the cluster, else one per CPU)",
    )
    group = parser.add_argument_group("buckets and crops")
    group.add_argument(
        "--buckets",
        type=buckets,
        default=None,
        metavar="{none,sdxl,generate,HxW,...}",
        help="aspect-ratio buckets of about --resolution^2 pixels: 'sdxl' (SDXL's 40 sizes, scaled), 'generate' "
        "(kohya's rule: --min-size, --max-size, --step) or a list of height x width sizes; each image goes to the "
        "bucket nearest its aspect ratio (default: none, one --resolution square)",
    )
    group.add_argument(
        "--min-size", type=_common.positive_int, default=None, help="generate: shortest side (default resolution/2)"
    )
    group.add_argument(
        "--max-size", type=_common.positive_int, default=None, help="generate: longest side (default 2 x resolution)"
    )
    group.add_argument(
        "--step", type=_common.positive_int, default=64, help="bucket sides are multiples of this (default 64)"
    )
    group.add_argument(
        "--crop", choices=("center", "random"), default="center", help="crop to the bucket at the centre or at a random "
        "offset seeded by --seed (default: center)",
    )  # fmt: skip
    group = parser.add_argument_group("what is stored")
    group.add_argument("--flip", action="store_true", help="also store the latents of the horizontally flipped image")
    group.add_argument(
        "--alpha-mask", action="store_true", help="also store the alpha channel (RGBA images) at latent resolution"
    )
    group.add_argument(
        "--store",
        choices=("sample", "mean", "distribution"),
        default=None,
        help="a posterior sample, its mean, or mean and log-variance (training draws a fresh sample each epoch) "
        "(default: sample; --sample-mode argmax means mean)",
    )
    group.add_argument(
        "--store-dtype",
        choices=("float32", "float16", "bfloat16"),
        default=None,
        help="dtype of the stored tensors (default: the VAE's); --dtype is the VAE's load dtype",
    )
    group.add_argument(
        "--append",
        action="store_true",
        help="add to an existing cache only the images it does not hold (by content hash), in new shards",
    )


def run(args) -> int:
    from ..tools import encode_to_cache, encode_to_cache_ray, finished_shards

    if args.actors is not None and args.engine != "ray":
        raise ValueError(f"`--actors` is an option of `--engine ray`; got `--engine {args.engine}`.")
    engine = {"local": encode_to_cache, "ray": encode_to_cache_ray}[args.engine]
    vae = _common.load(args)
    found = finished_shards(args.output_dir)
    if found and not args.append:
        _common.say(
            f"resuming: {len(found)} finished shard{'s' if len(found) != 1 else ''} in {args.output_dir} (those "
            "written with these settings are kept, the others are written)"
        )
    index = engine(
        vae,
        args.images,
        args.output_dir,
        **({"num_actors": args.actors} if args.engine == "ray" else {}),
        shard_size=args.shard_size,
        raw_latents=args.raw,
        vae_name=_common.model_name(args),
        buckets=args.buckets,
        min_size=args.min_size,
        max_size=args.max_size,
        step=args.step,
        crop=args.crop,
        flip=args.flip,
        alpha_mask=args.alpha_mask,
        store=args.store,
        dtype=args.store_dtype,
        append=args.append,
        **_common.encoding_options(args),
    )
    from ..scaling import LatentScaling

    scaling = index["scaling"]
    if not scaling:
        what = "raw (unscaled)"
    elif "format" in scaling:  # a video family's statistics
        what = f"scaled as {scaling['format']}: {scaling['formula']}"
    else:
        what = f"scaled with {LatentScaling.from_dict(scaling).describe()}"
    encoded = index["num_images"] - len(index["skipped"])
    unit = f"clips of {index['video']['num_frames']} frames" if index.get("video") else "images"
    _common.say(
        f"{encoded} {unit} in {len(index['shards'])} shards under {args.output_dir}, latents {what}, "
        f"stored as {index['store']}"
    )
    if index["skipped"]:
        _common.say(f'{len(index["skipped"])} unreadable images skipped (listed in cache.json, "skipped")')
    return 0
