"""Encode a folder of images into a latent cache: sharded safetensors files with metadata (VAE identity, scaling
applied, image size, source file). Resumable: run the same command again after an interruption and it writes only
the shards that are missing. Runs unchanged under `accelerate launch` (processes write disjoint shards).

Examples:
  diffusers-scaled encode ./images ./latents
  diffusers-scaled encode ./images ./latents --model stabilityai/sd-vae-ft-mse --resolution 512
  accelerate launch --num_processes 2 -m diffusers_scaled.cli encode ./images ./latents
"""

from __future__ import annotations

from . import _common


HELP = "encode a folder of images into a resumable sharded latent cache"
INTERRUPTED = "the finished shards are kept; run the same command again to resume"


def add_arguments(parser):
    parser.add_argument("images", help="folder of images (read recursively) or one image file")
    parser.add_argument("output_dir", help="cache folder (created; an unfinished cache there is completed)")
    _common.add_model_arguments(parser)
    _common.add_encoding_arguments(parser)
    parser.add_argument("--shard-size", type=_common.positive_int, default=256, help="images per shard (default 256)")
    parser.add_argument(
        "--raw", action="store_true", help="store raw VAE latents instead of scaled (denoiser) latents"
    )


def run(args) -> int:
    from ..tools import encode_to_cache, finished_shards

    vae = _common.load(args)
    found = finished_shards(args.output_dir)
    if found:
        _common.say(
            f"resuming: {len(found)} finished shard{'s' if len(found) != 1 else ''} in {args.output_dir} (those "
            "written with these settings are kept, the others are written)"
        )
    index = encode_to_cache(
        vae,
        args.images,
        args.output_dir,
        shard_size=args.shard_size,
        raw_latents=args.raw,
        vae_name=_common.model_name(args),
        **_common.encoding_options(args),
    )
    from ..scaling import LatentScaling

    scaling = index["scaling"]
    what = f"scaled with {LatentScaling.from_dict(scaling).describe()}" if scaling else "raw (unscaled)"
    encoded = index["num_images"] - len(index["skipped"])
    _common.say(f"{encoded} images in {len(index['shards'])} shards under {args.output_dir}, latents {what}")
    if index["skipped"]:
        _common.say(f'{len(index["skipped"])} unreadable images skipped (listed in cache.json, "skipped")')
    return 0
