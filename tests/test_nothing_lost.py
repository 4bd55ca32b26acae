"""Nothing lost, nothing run unasked: save/load round trips of the ready pipelines, and the weight formats.

- `save_pretrained` then `from_pretrained` gives back every component with every config key and every tensor
  (`tests/_compare.py`), for the ready classes, in float32 and float16, with the VAE's latent statistics;
- weights are written as safetensors only, as diffusers does by default (`safe_serialization=True`);
- a pickle weight file (`.bin`) that would run code when unpickled is never run: next to safetensors it is not read, with
  `use_safetensors=True` it is refused, and in diffusers' default fallback (`.bin` only, no safetensors) it is read with
  `torch.load(weights_only=True)`, which refuses to call anything. A control shows the payload is live, another that a
  genuine tensors-only `.bin` still loads in that fallback.
"""

from __future__ import annotations

import copy
import os
import pathlib
import pickle

import pytest
import torch
from _compare import assert_pipelines_identical
from fixtures import sd_components, sdxl_components

from diffusers_scaled import (
    ScaledStableDiffusionImg2ImgPipeline,
    ScaledStableDiffusionPipeline,
    ScaledStableDiffusionXLImg2ImgPipeline,
    ScaledStableDiffusionXLPipeline,
)


CASES = {
    "sd": (ScaledStableDiffusionPipeline, sd_components),
    "sd-img2img": (ScaledStableDiffusionImg2ImgPipeline, sd_components),
    "sdxl": (ScaledStableDiffusionXLPipeline, sdxl_components),
    "sdxl-img2img": (ScaledStableDiffusionXLImg2ImgPipeline, sdxl_components),
}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def weight_files(folder) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(root, f), folder)
        for root, _, files in os.walk(folder)
        for f in files
        if f.endswith(PICKLE_SUFFIXES + (".safetensors",))
    )


def saved(pipe, folder) -> str:
    pipe.save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("name", list(CASES))
def test_save_load_round_trip_keeps_everything(tmp_path, name, dtype):
    pipeline_class, factory = CASES[name]
    pipe = pipeline_class(**factory()).to(dtype)
    if name.startswith("sdxl"):  # latent statistics, as Playground v2.5's VAE has them
        pipe.vae.register_to_config(latents_mean=[0.1, -0.2, 0.3, 0.0], latents_std=[1.5, 0.5, 1.0, 2.0])
    folder = saved(pipe, tmp_path)
    files = weight_files(folder)
    assert files and all(f.endswith(".safetensors") for f in files), files
    loaded = pipeline_class.from_pretrained(folder, torch_dtype=dtype)
    assert_pipelines_identical(pipe, loaded)
    assert loaded.latent_scaling == pipe.latent_scaling


def test_comparison_sees_one_changed_value(tmp_path):
    # Controls for `assert_pipelines_identical`: one weight, one config value, one extra config key.
    pipe = ScaledStableDiffusionPipeline(**sd_components())
    loaded = ScaledStableDiffusionPipeline.from_pretrained(saved(pipe, tmp_path))
    assert_pipelines_identical(pipe, loaded)

    def with_vae(vae):
        return ScaledStableDiffusionPipeline(**{**loaded.components, "vae": vae, "requires_safety_checker": False})

    assert_pipelines_identical(pipe, with_vae(copy.deepcopy(loaded.vae)))
    changed = copy.deepcopy(loaded.vae)
    with torch.no_grad():
        next(changed.parameters()).view(-1)[0] += 1e-6
    with pytest.raises(AssertionError, match=r"^vae\..*values differ"):
        assert_pipelines_identical(pipe, with_vae(changed))
    changed = copy.deepcopy(loaded.vae)
    changed.register_to_config(scaling_factor=0.18216)
    with pytest.raises(AssertionError, match=r"^vae: config values differ: \{'scaling_factor'"):
        assert_pipelines_identical(pipe, with_vae(changed))
    changed.register_to_config(scaling_factor=pipe.vae.config.scaling_factor, calibrated_on="imagenet")
    with pytest.raises(AssertionError, match=r"^vae: keys only in one config: \['calibrated_on'\]"):
        assert_pipelines_identical(pipe, with_vae(changed))


# Pickle files -------------------------------------------------------------------------------------------------------


class Payload:
    """Unpickling this calls `pathlib.Path.touch(marker)`: code run by merely loading a weight file."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.fixture()
def folder_with_payload(tmp_path):
    """A saved pipeline whose VAE folder also holds a `.bin` that runs code when unpickled."""
    folder = saved(ScaledStableDiffusionPipeline(**sd_components()), tmp_path / "pipe")
    marker = tmp_path / "payload-ran"
    torch.save({"weights": Payload(marker)}, os.path.join(folder, "vae", "diffusion_pytorch_model.bin"))
    return folder, marker


def test_payload_is_live(folder_with_payload):
    folder, marker = folder_with_payload
    torch.load(os.path.join(folder, "vae", "diffusion_pytorch_model.bin"), weights_only=False)
    assert marker.exists()  # so the tests below would see it run


def test_pickle_next_to_safetensors_is_not_read(folder_with_payload):
    folder, marker = folder_with_payload
    loaded = ScaledStableDiffusionPipeline.from_pretrained(folder)
    assert not marker.exists()
    assert loaded.vae.config.scaling_factor == 0.18215


def test_pickle_only_is_refused_with_use_safetensors(folder_with_payload):
    folder, marker = folder_with_payload
    os.remove(os.path.join(folder, "vae", "diffusion_pytorch_model.safetensors"))
    with pytest.raises(OSError, match="diffusion_pytorch_model.safetensors"):
        ScaledStableDiffusionPipeline.from_pretrained(folder, use_safetensors=True)
    assert not marker.exists()


def test_pickle_only_default_fallback_runs_no_code(folder_with_payload):
    # diffusers' default (`use_safetensors=None`) falls back to a `.bin` when no safetensors file exists, and reads it
    # with `torch.load(weights_only=True)`: tensors and plain containers only, so the payload is refused, not run.
    folder, marker = folder_with_payload
    os.remove(os.path.join(folder, "vae", "diffusion_pytorch_model.safetensors"))
    with pytest.raises(OSError, match="Unable to load weights") as info:
        ScaledStableDiffusionPipeline.from_pretrained(folder)
    assert not marker.exists()
    causes, error = [], info.value
    while error is not None:
        causes.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, pickle.UnpicklingError) and "Weights only load failed" in str(e) for e in causes)


def test_genuine_pickle_only_weights_load_in_the_fallback(tmp_path):
    # A `.bin` holding tensors only, with no safetensors beside it, loads in diffusers' default fallback (with a
    # warning); `use_safetensors=True` refuses it.
    pipe = ScaledStableDiffusionPipeline(**sd_components())
    folder = saved(pipe, tmp_path)
    os.remove(os.path.join(folder, "vae", "diffusion_pytorch_model.safetensors"))
    pipe.vae.save_pretrained(os.path.join(folder, "vae"), safe_serialization=False)
    assert "vae/diffusion_pytorch_model.bin" in weight_files(folder)
    assert_pipelines_identical(pipe, ScaledStableDiffusionPipeline.from_pretrained(folder))
    with pytest.raises(OSError, match="diffusion_pytorch_model.safetensors"):
        ScaledStableDiffusionPipeline.from_pretrained(folder, use_safetensors=True)
