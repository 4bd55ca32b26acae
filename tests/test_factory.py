"""`scaled(PipelineClass)`: the scaled subclass of any diffusers pipeline, made once, registered, savable, picklable."""

import json
import os
import pickle
import threading

import diffusers
import numpy as np
import pytest
import torch
from diffusers import (
    DDPMPipeline,
    DiffusionPipeline,
    FluxKontextPipeline,
    FluxPipeline,
    PixArtAlphaPipeline,
    PixArtSigmaPipeline,
    StableDiffusionPipeline,
)
from fixtures import flux_components, flux_prompt_embeds, generator, pixart_prompt_embeds, pixart_sigma_components

import diffusers_scaled.factory
from diffusers_scaled import (
    PackedLatentsMixin,
    ScaledFluxPipeline,
    ScaledLatentsMixin,
    ScaledStableDiffusionPipeline,
    pipelines,
    scaled,
)
from diffusers_scaled._registry import preferred_registered_class
from diffusers_scaled.formats._table import PROVEN


PIXART_CALL = {"height": 32, "width": 32, "num_inference_steps": 2, "guidance_scale": 1.0}


@pytest.fixture(scope="module")
def pixart():
    pipe = scaled(PixArtSigmaPipeline)(**pixart_sigma_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def pixart_images(pipe, output_type, seed=0):
    inputs = {**PIXART_CALL, "use_resolution_binning": False, **pixart_prompt_embeds()}
    return pipe(**inputs, generator=generator(seed), output_type=output_type).images


def test_made_class_is_cached_registered_and_importable():
    cls = scaled(PixArtSigmaPipeline)
    assert scaled(PixArtSigmaPipeline) is cls
    assert issubclass(cls, ScaledLatentsMixin) and issubclass(cls, PixArtSigmaPipeline)
    assert cls.__name__ == cls.__qualname__ == "ScaledPixArtSigmaPipeline"
    assert cls.__module__ == "diffusers_scaled.factory"
    assert diffusers_scaled.factory.ScaledPixArtSigmaPipeline is cls
    assert preferred_registered_class(PixArtSigmaPipeline) is cls
    assert pickle.loads(pickle.dumps(cls)) is cls
    assert scaled(cls) is cls  # already scaled: unchanged


def test_ready_classes_come_back():
    assert scaled(StableDiffusionPipeline) is ScaledStableDiffusionPipeline
    assert scaled(FluxPipeline) is ScaledFluxPipeline
    assert diffusers_scaled.factory.ScaledFluxPipeline is ScaledFluxPipeline


def test_concurrent_calls_make_one_class():
    results = []
    threads = [threading.Thread(target=lambda: results.append(scaled(PixArtAlphaPipeline))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_decode_latents_equals_pipeline_output(pixart):
    latents = pixart_images(pixart, "latent")
    with torch.no_grad():
        assert np.array_equal(pixart.decode_latents(latents), pixart_images(pixart, "np"))


def test_save_and_load(pixart, tmp_path):
    pixart.save_pretrained(tmp_path)
    # the custom-pipeline form (docs/loading.md): a module file that imports the made class from the factory module
    with open(os.path.join(tmp_path, "model_index.json")) as f:
        module, name = json.load(f)["_class_name"]
    assert name == "ScaledPixArtSigmaPipeline"
    with open(os.path.join(tmp_path, f"{module}.py")) as f:
        assert "from diffusers_scaled.factory import ScaledPixArtSigmaPipeline" in f.read()
    assert type(DiffusionPipeline.from_pretrained(tmp_path, trust_remote_code=True)) is scaled(PixArtSigmaPipeline)
    loaded = scaled(PixArtSigmaPipeline).from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert type(loaded) is scaled(PixArtSigmaPipeline)
    latents = pixart_images(pixart, "latent")
    with torch.no_grad():
        assert np.array_equal(loaded.decode_latents(latents), pixart.decode_latents(latents))
    # saved in stock form, the stock class loads the folder with plain diffusers
    stock_folder = tmp_path / "stock"
    pixart.save_pretrained(stock_folder, stock_format=True)
    assert type(PixArtSigmaPipeline.from_pretrained(stock_folder)) is PixArtSigmaPipeline
    assert type(DiffusionPipeline.from_pretrained(stock_folder)) is PixArtSigmaPipeline


def test_unpickling_makes_a_class_not_made_yet():
    # A pickle names the class by module and qualified name; in a process that never called `scaled` for it, the
    # module makes it on first access. (Protocol 0 bytes written by hand: pickling would need the class made first.)
    # The class is one that no earlier test of this process has made: other suites call `scaled` for many pipelines.
    name = next(
        name
        for name in sorted(PROVEN)
        if hasattr(diffusers, name)  # an older diffusers lacks the newer pipelines
        and pipelines.ready_class_for(getattr(diffusers, name)) is None
        and f"Scaled{name}" not in vars(diffusers_scaled.factory)
    )
    cls = pickle.loads(f"cdiffusers_scaled.factory\nScaled{name}\n.".encode())
    assert f"Scaled{name}" in vars(diffusers_scaled.factory)
    assert cls is scaled(getattr(diffusers, name))
    assert pickle.loads(pickle.dumps(cls)) is cls


def test_flux_family_gets_packed_latents():
    cls = scaled(FluxKontextPipeline)
    assert issubclass(cls, PackedLatentsMixin)
    pipe = cls(**flux_components(), image_encoder=None, feature_extractor=None)
    pipe.set_progress_bar_config(disable=True)
    inputs = {"height": 32, "width": 32, "num_inference_steps": 2, "guidance_scale": 3.5, **flux_prompt_embeds()}
    inputs["max_area"] = 32 * 32  # Kontext otherwise resizes to about 1024x1024
    latents = pipe(**inputs, generator=generator(), output_type="latent").images
    expected = pipe(**inputs, generator=generator(), output_type="np").images
    with torch.no_grad():
        assert np.array_equal(pipe.decode_latents(latents, height=32, width=32), expected)


@pytest.mark.parametrize(
    "pipeline_class, message",
    [
        (DDPMPipeline, "`DDPMPipeline` lacks a `vae` component"),
        (
            diffusers.CosmosTextToWorldPipeline,
            r"`CosmosTextToWorldPipeline` has no proven latent format \(a video pipeline.*Covered families: ",
        ),
        (DiffusionPipeline, "not `DiffusionPipeline` itself"),
        (42, "must be a diffusers pipeline class"),
        (torch.nn.Module, "must be a diffusers pipeline class"),
    ],
)
def test_clear_errors(pipeline_class, message):
    with pytest.raises(TypeError, match=message):
        scaled(pipeline_class)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="ScaledNoSuchPipeline"):
        diffusers_scaled.factory.ScaledNoSuchPipeline
