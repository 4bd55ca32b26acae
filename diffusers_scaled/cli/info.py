"""Show which latent scaling a VAE (or a pipeline's VAE) uses: the latent family (format) and its formula, the scaling
numbers, and its calibration statistics if it has them.

A pipeline folder (with `model_index.json`) names its pipeline class, whose family the explicit table gives; a bare
VAE is listed with every family whose pipelines take its class (several for `AutoencoderKL`).

Examples:
  diffusers-scaled info
  diffusers-scaled info --model stabilityai/sdxl-vae
  HF_HUB_OFFLINE=1 diffusers-scaled info --model ./my-pipeline --json
"""

from __future__ import annotations

import json
import os

from . import _common


HELP = "show the latent scaling a model uses"


def add_arguments(parser):
    _common.add_model_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _calibration_path(args) -> str | None:
    from ..tools import CALIBRATION_FILE, default_vae_path

    if args.model is None:
        folder = default_vae_path()
    elif os.path.isdir(args.model):
        folder = os.path.join(args.model, args.subfolder or "")
        if os.path.isfile(os.path.join(args.model, "model_index.json")) and args.subfolder is None:
            folder = os.path.join(args.model, "vae")
    else:
        return None
    path = os.path.join(folder, CALIBRATION_FILE)
    return path if os.path.isfile(path) else None


def _pipeline_class_name(args) -> str | None:
    """The `_class_name` of a pipeline folder's `model_index.json` (None for a VAE folder, a subfolder or a hub id)."""
    if args.model is None or args.subfolder is not None or not os.path.isdir(args.model):
        return None
    path = os.path.join(args.model, "model_index.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f).get("_class_name")


def _families(vae, pipeline_name: str | None) -> tuple[list, str | None]:
    """The latent formats that apply, and why there are none when so."""
    from ..formats import format_for, formats_for_vae

    if pipeline_name is not None:
        import diffusers

        try:
            pipeline_class = getattr(diffusers, pipeline_name, None)
        except RuntimeError as error:  # diffusers' lazy import failed: an optional dependency is missing
            return [], f"diffusers cannot import `{pipeline_name}` here ({error.__cause__!r})"
        if pipeline_class is None:
            return [], f"diffusers {diffusers.__version__} has no pipeline class `{pipeline_name}`"
        try:
            return [format_for(pipeline_class)], None
        except TypeError as error:
            return [], str(error).split(", so ")[0]
    families = formats_for_vae(type(vae))
    return families, None if families else f"no proven pipeline takes a `{type(vae).__name__}`"


def _reads_config_scaling(fmt, vae) -> bool:
    from ..scaling import LatentScaling

    try:
        return isinstance(fmt.scaling(vae), LatentScaling)
    except ValueError:  # its numbers are missing from this VAE: the family reads them elsewhere than `LatentScaling`
        return False


def run(args) -> int:
    from ..scaling import LatentScaling
    from ..vae_codec import vae_scale_factor

    vae = _common.load(args)
    pipeline_name = _pipeline_class_name(args)
    families, no_family = _families(vae, pipeline_name)
    try:
        scaling = LatentScaling.from_config(vae.config)
        scaling_info = scaling.to_dict()
        formula = scaling.formula
    except ValueError as error:
        scaling_info, formula = None, str(error)
    if families and not any(_reads_config_scaling(fmt, vae) for fmt in families):
        scaling_info, formula = None, "read by the family's format (see `family`), not `LatentScaling`"
    try:
        factor = vae_scale_factor(vae)
    except ValueError:
        factor = None
    report = {
        "model": _common.model_name(args),
        "class": type(vae).__name__,
        "dtype": str(vae.dtype).replace("torch.", ""),
        "vae_scale_factor": factor,
        "latent_channels": getattr(vae.config, "latent_channels", None),
        "force_upcast": getattr(vae.config, "force_upcast", None),
        "pipeline": pipeline_name,
        "families": [{"name": fmt.name, "formula": fmt.formula, "description": fmt.describe()} for fmt in families],
        "scaling": scaling_info,
        "formula": formula,
    }
    if no_family is not None:
        report["no_family"] = no_family
    path = _calibration_path(args)
    if path is not None:
        with open(path, encoding="utf-8") as f:
            calibration = json.load(f)
        report["calibration"] = {
            k: calibration.get(k)
            for k in (
                "num_images",
                "sample_mode",
                "resolution",
                "mean",
                "std",
                "scaling_factor",
                "scaling_factor_ci95",
            )
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"model:            {report['model']}")
    print(f"class:            {report['class']} ({report['dtype']})")
    print(f"vae_scale_factor: {report['vae_scale_factor']}  latent_channels: {report['latent_channels']}")
    if pipeline_name is not None:
        print(f"pipeline:         {pipeline_name}")
    for fmt in families:
        print(f"family:           {fmt.describe()}")
    if no_family is not None:
        print(f"family:           none: {no_family}")
    if scaling_info is None:
        print(f"scaling:          unknown: {formula}")
    else:
        for key, value in scaling_info.items():
            print(f"{key + ':':<18}{value}")
        print(f"denoiser latents: {formula}")
    if "calibration" in report:
        c = report["calibration"]
        ci95 = c["scaling_factor_ci95"]
        interval = "no 95% CI: one batch" if ci95 is None else "95% CI {:.5f} .. {:.5f}".format(*ci95)
        print(
            f"calibrated on {c['num_images']} images ({c['sample_mode']}, resolution {c['resolution']}): raw std "
            f"{c['std']:.5f} -> scaling_factor {c['scaling_factor']:.5f} ({interval})"
        )
    return 0
