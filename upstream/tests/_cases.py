"""Pipeline runs whose outputs the upstream patch must leave unchanged, for the stock and the patched diffusers alike.

`upstream/check.py` runs this file as a script under the pristine diffusers release (`python _cases.py OUT.npz`) to
record the reference outputs; `test_patched_equivalence.py` imports it under the patched release and compares. Only
the stock diffusers API is used, on the tiny models of `tests/fixtures.py`, in float32 on CPU (plus a float16 VAE for
the SDXL upcast path), so the same code computes both sides.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch


sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tests"))

from fixtures import PROMPT, generator, make_pil_images, sd_components, sdxl_components  # noqa: E402


SIZE = 32
LATENTS_MEAN_STD = {"latents_mean": [0.1, -0.2, 0.3, -0.4], "latents_std": [0.9, 1.1, 1.2, 0.8]}


def _components(kind: str, vae: str = "kl", vae_config: dict | None = None, vae_dtype=torch.float32) -> dict:
    components = sd_components(vae) if kind == "sd" else sdxl_components(vae)
    if vae_config:
        components["vae"].register_to_config(**vae_config)
    components["vae"].to(vae_dtype)
    return components


def _pipeline(name: str, **kwargs):
    import diffusers

    pipeline_class = {
        "sd": diffusers.StableDiffusionPipeline,
        "sd-img2img": diffusers.StableDiffusionImg2ImgPipeline,
        "sdxl": diffusers.StableDiffusionXLPipeline,
        "sdxl-img2img": diffusers.StableDiffusionXLImg2ImgPipeline,
    }[name]
    pipe = pipeline_class(**_components("sd" if name in ("sd", "sd-img2img") else "sdxl", **kwargs))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _inputs(name: str, batch_size: int, generators: bool, output_type: str) -> dict:
    inputs = {"prompt": [PROMPT] * batch_size, "num_inference_steps": 2, "output_type": output_type}
    inputs["generator"] = [generator(10 + i) for i in range(batch_size)] if generators else generator(0)
    if name.endswith("img2img"):
        inputs.update(image=make_pil_images(batch_size, (SIZE, SIZE), seed=1), strength=0.75)
    else:
        inputs.update(height=SIZE, width=SIZE)
    return inputs


def _as_array(images) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        return images.detach().cpu().numpy()
    if isinstance(images, list):  # PIL
        return np.stack([np.asarray(image) for image in images])
    return images


# name -> (pipeline, pipeline kwargs, batch size, one generator per image, output types)
ALL_TYPES = ("np", "pt", "pil", "latent")
RUNS = {
    "sd": ("sd", {}, 2, False, ALL_TYPES),
    "sd-tiny-vae": ("sd", {"vae": "tiny"}, 1, False, ("np", "latent")),
    "sd-img2img": ("sd-img2img", {}, 2, True, ALL_TYPES),
    "sd-img2img-tiny-vae": ("sd-img2img", {"vae": "tiny"}, 1, False, ("np", "latent")),
    "sdxl": ("sdxl", {}, 2, False, ALL_TYPES),
    "sdxl-latents-mean-std": ("sdxl", {"vae_config": LATENTS_MEAN_STD}, 1, False, ("np", "latent")),
    "sdxl-fp16-vae-force-upcast": ("sdxl", {"vae_dtype": torch.float16}, 1, False, ("np", "latent")),
    "sdxl-img2img": ("sdxl-img2img", {}, 2, True, ALL_TYPES),
    "sdxl-img2img-latents-mean-std": ("sdxl-img2img", {"vae_config": LATENTS_MEAN_STD}, 1, False, ("np", "latent")),
    "sdxl-img2img-fp16-vae-force-upcast": ("sdxl-img2img", {"vae_dtype": torch.float16}, 1, False, ("np", "latent")),
}
KEYS = [f"{run}/{output_type}" for run, spec in RUNS.items() for output_type in spec[4]]


def run_all() -> dict[str, np.ndarray]:
    """Every run of `RUNS` in each of its output types, keyed `"<run>/<output_type>"` (`KEYS`), plus the (deprecated, on the stock
    release) `decode_latents` of the Stable Diffusion pipelines on the latents of their run, keyed
    `"<run>/decode_latents"`."""
    results = {}
    for run, (name, kwargs, batch_size, generators, output_types) in RUNS.items():
        pipe = _pipeline(name, **kwargs)
        for output_type in output_types:
            with torch.no_grad():
                images = pipe(**_inputs(name, batch_size, generators, output_type)).images
            results[f"{run}/{output_type}"] = _as_array(images)
        if name in ("sd", "sd-img2img"):
            latents = torch.from_numpy(results[f"{run}/latent"])
            with torch.no_grad():
                results[f"{run}/decode_latents"] = pipe.decode_latents(latents)
    return results


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python _cases.py OUT.npz")
    np.savez(sys.argv[1], **run_all())
