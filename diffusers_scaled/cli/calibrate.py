"""Compute the scaling_factor (1/std of the raw latents), shift_factor and per-channel statistics of a VAE over a
folder of images, in constant memory. Optionally writes the factor into a copy of the VAE (save_pretrained).

Runs unchanged under `accelerate launch` (batches spread over the processes; the merged statistics are exactly the
single-process ones).

Examples:
  diffusers-scaled calibrate ./images
  diffusers-scaled calibrate ./images --model ./my_vae --write ./my_vae_calibrated
  diffusers-scaled calibrate ./clips --model ./my_wan_vae --num-frames 17 --resolution 256 --write ./my_wan_vae_calibrated
  accelerate launch --num_processes 2 -m diffusers_scaled.cli calibrate ./images --model ./my_vae
"""

from __future__ import annotations

from . import _common


HELP = "compute the scaling factor a VAE needs, over a folder of images"


def add_arguments(parser):
    parser.add_argument(
        "images",
        help="folder of images (read recursively) or one image file; with --num-frames a folder of video clips "
        "(video files, sub-folders of frames) or one video file",
    )
    _common.add_model_arguments(parser)
    _common.add_encoding_arguments(parser)
    parser.add_argument("--max-images", type=_common.positive_int, default=None, help="stop after this many images")
    parser.add_argument("--no-preview", action="store_true", help="do not fit the latent -> RGB preview map")
    parser.add_argument("--output", default=None, help="write the statistics to this JSON file")
    parser.add_argument(
        "--write",
        metavar="DIR",
        default=None,
        help="save the VAE with the calibrated scaling_factor in its config (and calibration.json) to DIR",
    )
    parser.add_argument("--shift", action="store_true", help="with --write: also set shift_factor (SD3/Flux style)")
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")


def run(args) -> int:
    _common.check_output_file(args.output, "`--output`")
    _common.check_output_folder(args.write, "`--write`")  # both before the heavy imports: a bad path fails at once

    from .. import atomic
    from ..tools import calibrate as calibrate_tool
    from ..tools import is_main_process

    vae = _common.load(args)
    result = calibrate_tool(
        vae,
        args.images,
        max_images=args.max_images,
        fit_preview=not args.no_preview,
        **_common.encoding_options(args),
    )
    result.vae["name"] = _common.model_name(args)
    if args.json:
        _common.say(result.to_json())
    else:
        _common.say(result.summary())
    written = {}
    with atomic.transaction() as t:  # `--output` and `--write`: both written, or neither
        if args.output and is_main_process():
            result.save(t.file(args.output))
        if args.write:
            folder = t.folder(args.write) if is_main_process() else args.write
            written = result.write_to_vae(vae, folder, shift=args.shift)
    if args.output:
        _common.say(f"statistics written to {args.output}")
    if args.write:
        _common.say(f"VAE with {_describe_written(written)} saved to {args.write}")
    return 0


def _describe_written(written: dict) -> str:
    if "latents_mean" in written:  # per-channel statistics (config keys or LTX's buffers)
        return f"per-channel latents_mean / latents_std ({len(written['latents_mean'])} channels)"
    return ", ".join(f"{name}={value:.6g}" for name, value in written.items())
