"""Options and helpers shared by the commands.

Building the parser must stay light (`diffusers-scaled --help` imports neither torch nor diffusers): this module and
the command modules import the tools, torch and the rest inside the functions that run a command.
"""

from __future__ import annotations

import argparse
import os

from ..checks import SAMPLE_MODES, check_model_source


DTYPES = ("float32", "float16", "bfloat16")  # names of torch dtypes


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default=None,
        help="VAE or pipeline folder, or hub id (loaded with diffusers' from_pretrained; HF_HUB_OFFLINE=1 honoured). "
        "Default: the small VAE embedded in the package.",
    )
    group.add_argument("--subfolder", default=None, help="subfolder holding the VAE (default: 'vae' for pipelines)")
    group.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="load the VAE in this dtype")
    group.add_argument(
        "--device", default=None, help="torch device (default: accelerate's: this process's GPU, else cpu)"
    )


def add_encoding_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the commands that encode a folder of images (`calibrate`, `encode`)."""
    parser.add_argument("--batch-size", type=positive_int, default=8, help="images per encode (default 8)")
    parser.add_argument(
        "--resolution",
        type=resolution,
        default=256,
        help="resize and centre-crop images to this square size; 'none' keeps each image's size (default 256)",
    )
    add_sample_mode_argument(
        parser, default="sample", why="what training sees: denoisers learn from posterior samples"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the posterior samples (default 0)")
    parser.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="skip image files that cannot be read (each is logged; `encode` records them in cache.json) instead of "
        "stopping at the first",
    )
    group = parser.add_argument_group("video clips")
    group.add_argument(
        "--num-frames",
        type=positive_int,
        default=None,
        help="read video clips of this many frames instead of images: the folder holds video files (GIF; mp4 and "
        "others with the `video` extra) and/or sub-folders of frames, one per clip; a video VAE (Wan, LTX-Video, "
        "HunyuanVideo, CogVideoX, Mochi) with num_frames - 1 a multiple of its temporal compression (Wan: 4k+1) "
        "(default: images)",
    )
    group.add_argument(
        "--frame-stride",
        type=positive_int,
        default=1,
        help="with --num-frames: take every N-th frame of a clip, from its first (default 1)",
    )
    group = parser.add_argument_group("speed (results are the same, except as noted)")
    group.add_argument(
        "--workers",
        type=non_negative_int,
        default=2,
        help="threads that read and resize the next batch's images while the current one encodes; 0: none (default 2)",
    )
    group.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the VAE encoder, once per batch shape: pays off on a GPU for large datasets; compiled "
        "kernels agree with eager ones to rounding, not bitwise",
    )


def add_sample_mode_argument(parser: argparse.ArgumentParser, default: str, why: str) -> None:
    """`--sample-mode`. The default differs by command, for the reason `why` gives (shown in `--help`)."""
    parser.add_argument(
        "--sample-mode",
        choices=SAMPLE_MODES,
        default=default,
        help=f"a posterior sample, or its mode argmax (deterministic); default: {default}, {why}",
    )


def encoding_options(args) -> dict:
    """The keyword arguments of `calibrate` / `encode_to_cache` that `add_encoding_arguments` defines."""
    return {
        "batch_size": args.batch_size,
        "resolution": args.resolution,
        "sample_mode": args.sample_mode,
        "seed": args.seed,
        "num_workers": args.workers,
        "compile": args.compile,
        "skip_bad_images": args.skip_bad_images,
        "num_frames": args.num_frames,
        "frame_stride": args.frame_stride,
    }


def resolution(value: str) -> int | None:
    if value.lower() == "none":
        return None
    try:
        return positive_int(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {value!r}") from None


def _int_from(value: str, minimum: int, what: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise argparse.ArgumentTypeError(f"expected a {what} integer, got {value!r}")
    return number


def positive_int(value: str) -> int:
    return _int_from(value, 1, "positive")


def non_negative_int(value: str) -> int:
    return _int_from(value, 0, "non-negative")


def check_input_file(path: str, argument: str) -> None:
    """Refuses, before anything is loaded, an input file that is missing or is a folder."""
    if not os.path.isfile(path):
        what = "a folder" if os.path.isdir(path) else "missing"
        raise FileNotFoundError(f"{argument} is `{path}`, which is {what}: give an image file.")


def check_output_file(path: str | None, argument: str) -> None:
    """Refuses, before any work, an output file that could not be written: a folder, or in a folder that is missing."""
    if path is None:
        return
    if os.path.isdir(path):
        raise IsADirectoryError(f"{argument} is `{path}`, which is a folder: give a file name.")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"{argument} is `{path}`, whose folder `{parent}` does not exist: create it first.")


def check_output_folder(path: str | None, argument: str) -> None:
    """Refuses, before any work, an output folder that is a file."""
    if path is not None and os.path.exists(path) and not os.path.isdir(path):
        raise FileExistsError(f"{argument} is `{path}`, which is a file: give a folder (new or empty).")


def check_model(args) -> None:
    """Refuses a `--model` that cannot be found (missing path, not cached while offline, Hub unreachable) before
    torch or diffusers is imported: the one-line error comes at once, not after seconds of imports."""
    if getattr(args, "model", None) is not None:
        check_model_source(args.model, args.subfolder)


def model_name(args) -> str:
    from ..tools import DEFAULT_VAE_NAME

    return args.model or DEFAULT_VAE_NAME


def device(args):
    """The `--device` the arguments name, checked before anything is loaded, or accelerate's (this process's GPU under
    `accelerate launch`, else cuda if there is one, else cpu)."""
    import torch

    if args.device is None:
        from accelerate import PartialState

        return PartialState().device
    try:
        chosen = torch.device(args.device)
        torch.empty(0, device=chosen)  # raises where this torch build or machine has no such device
    except (RuntimeError, AssertionError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"--device {args.device}: not usable here ({reason}). Use --device cpu, or leave --device out to take "
            "this machine's GPU if it has one."
        ) from None
    return chosen


def load(args):
    """The VAE the arguments name, in eval mode, on the requested (or accelerate's) device."""
    import torch

    from ..tools import load_vae

    target = device(args)
    dtype = getattr(torch, args.dtype) if args.dtype else None
    vae = load_vae(args.model, subfolder=args.subfolder, torch_dtype=dtype)
    return vae.to(target).eval()


def say(*args, **kwargs) -> None:
    """print on the main process only."""
    from ..tools import is_main_process

    if is_main_process():
        print(*args, **kwargs, flush=True)
