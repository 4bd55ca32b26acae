"""Image pipelines mapped to an existing family without a ready class: `scaled(X)` decodes what X's own `__call__`
returns, bitwise; and pipelines whose stock `__call__` calls `self.decode_latents` generate exactly as stock."""

import numpy as np
import pytest
import torch
from _compare import assert_images_equal
from diffusers import (
    ChromaImg2ImgPipeline,
    ChromaPipeline,
    CogView4Pipeline,
    LatentConsistencyModelPipeline,
    LCMScheduler,
    Lumina2Pipeline,
    PixArtAlphaPipeline,
    PixArtSigmaPipeline,
    SanaPipeline,
    StableDiffusionAdapterPipeline,
    UNet2DConditionModel,
)
from fixtures import (
    PROMPT,
    chroma_components,
    cogview4_components,
    generator,
    lumina2_components,
    make_pil_images,
    pixart_prompt_embeds,
    pixart_sigma_components,
    sana_components,
    sana_prompt_embeds,
    sd_adapter_components,
    sd_components,
    text_embeds,
)

from diffusers_scaled import ScaledLatentsMixin, ScaledStableDiffusionPipeline, scaled
from diffusers_scaled.formats.image import STABLE_DIFFUSION


def _check_decode(pipe, inputs):
    pipe.set_progress_bar_config(disable=True)
    latents = pipe(**inputs, generator=generator(0), output_type="latent").images
    expected = pipe(**inputs, generator=generator(0), output_type="np").images
    with torch.no_grad():
        assert np.array_equal(pipe.decode_latents(latents), expected)


def test_latent_consistency_model():
    components = sd_components()
    components["scheduler"] = LCMScheduler()
    components.pop("image_encoder")
    torch.manual_seed(0)  # LCM's UNet takes the guidance scale as an embedding
    config = {k: v for k, v in components["unet"].config.items() if not k.startswith("_")}
    components["unet"] = UNet2DConditionModel.from_config({**config, "time_cond_proj_dim": 32})
    pipe = scaled(LatentConsistencyModelPipeline)(**components)
    _check_decode(pipe, {"prompt": PROMPT, "num_inference_steps": 2, "height": 32, "width": 32})


@pytest.mark.parametrize(
    "pipeline_class, factory, embeds",
    [
        (ChromaPipeline, chroma_components, (8, 32, torch.bool)),
        (Lumina2Pipeline, lumina2_components, (8, 8, torch.long)),
        (CogView4Pipeline, cogview4_components, (16, 32, None)),
    ],
    ids=["chroma", "lumina2", "cogview4"],
)
def test_transformer_families(pipeline_class, factory, embeds):
    length, width, mask = embeds
    pipe = scaled(pipeline_class)(**factory())
    inputs = {"num_inference_steps": 2, "height": 32, "width": 48, "guidance_scale": 1.0}
    if pipe.latent_format.packs:
        pipe.set_progress_bar_config(disable=True)
        latents = pipe(**inputs, **text_embeds(1, length, width, mask), generator=generator(0), output_type="latent")
        expected = pipe(**inputs, **text_embeds(1, length, width, mask), generator=generator(0), output_type="np")
        with torch.no_grad():
            decoded = pipe.decode_latents(latents.images, height=32, width=48)
        assert np.array_equal(decoded, expected.images)
    else:
        _check_decode(pipe, {**inputs, **text_embeds(1, length, width, mask)})


def test_chroma_encode_equals_img2img_encoding():
    # As for Flux: the stock img2img pipeline passes latent-channel tensors through; with the generator our encoding
    # advanced it reproduces its run from pixels.
    components = chroma_components()
    pipe = scaled(ChromaImg2ImgPipeline)(**components)
    stock = ChromaImg2ImgPipeline(**components)
    stock.set_progress_bar_config(disable=True)
    images = make_pil_images(2, (48, 32))
    inputs = {"num_inference_steps": 4, "strength": 0.5, "height": 32, "width": 48, "guidance_scale": 1.0}
    inputs.update(text_embeds(2, 8, 32, torch.bool), output_type="np")
    expected = stock(image=images, generator=generator(0), **inputs).images
    g = generator(0)
    with torch.no_grad():
        latents = pipe.encode_latents(images, generator=g)
    assert np.array_equal(stock(image=latents, generator=g, **inputs).images, expected)


def test_pixart_alpha():
    pipe = scaled(PixArtAlphaPipeline)(**pixart_sigma_components())
    inputs = {"num_inference_steps": 2, "height": 32, "width": 32, "guidance_scale": 1.0, **pixart_prompt_embeds()}
    inputs["use_resolution_binning"] = False  # binning needs a 256-1024 pixel transformer
    _check_decode(pipe, inputs)


BINNING = {
    "pixart-sigma": (PixArtSigmaPipeline, lambda: pixart_sigma_components(sample_size=32), pixart_prompt_embeds),
    "pixart-alpha": (PixArtAlphaPipeline, lambda: pixart_sigma_components(sample_size=32), pixart_prompt_embeds),
    "sana": (SanaPipeline, lambda: sana_components(sample_size=16), sana_prompt_embeds),
}


@pytest.mark.parametrize("family", sorted(BINNING))
def test_resolution_binning_decode_equals_stock(family):
    # With `use_resolution_binning=True` (their default) these pipelines generate at the aspect-ratio bin nearest the
    # requested 200x264 and resize and crop the decoded image back to it: given the call's height and width,
    # `decode_latents` does the same, bitwise.
    pipeline_class, components, embeds = BINNING[family]
    pipe = scaled(pipeline_class)(**components())
    pipe.set_progress_bar_config(disable=True)
    inputs = {"height": 200, "width": 264, "num_inference_steps": 1, "guidance_scale": 1.0, **embeds()}
    assert "use_resolution_binning" not in inputs  # the default, on
    latents = pipe(**inputs, generator=generator(0), output_type="latent").images
    for output_type in ("np", "pt"):
        expected = pipe(**inputs, generator=generator(0), output_type=output_type).images
        with torch.no_grad():
            ours = pipe.decode_latents(latents, output_type=output_type, height=200, width=264)
        assert_images_equal(ours, expected)
    with torch.no_grad():
        binned = pipe.decode_latents(latents)  # without the requested size: the bin's
    assert binned.shape[1:3] == tuple(pipe.vae_scale_factor * n for n in latents.shape[2:]) != (200, 264)
    with pytest.raises(ValueError, match="`height` and `width` go together"):
        pipe.decode_latents(latents, height=200)


class AdapterWithSDFormat(ScaledLatentsMixin, StableDiffusionAdapterPipeline):
    # A user's subclass may choose another format than the table's (the adapter's own decode multiplies by
    # `1 / scaling_factor`: `STABLE_DIFFUSION_T2I_ADAPTER`, tests/formats/test_image_variants.py). What matters here:
    # its stock `__call__` calls `self.decode_latents(latents)`, which must stay the stock method inside the call.
    latent_format = STABLE_DIFFUSION


@pytest.mark.parametrize("output_type", ["np", "pil"])
def test_stock_call_that_calls_decode_latents_generates_as_stock(output_type):
    components = sd_adapter_components()
    stock = StableDiffusionAdapterPipeline(**components)
    ours = AdapterWithSDFormat(**components)
    inputs = {"prompt": PROMPT, "image": make_pil_images(1, (32, 32))[0], "num_inference_steps": 2}
    inputs.update(height=32, width=32, output_type=output_type)
    for pipe in (stock, ours):
        pipe.set_progress_bar_config(disable=True)
    result = ours(**inputs, generator=generator(0)).images
    expected = stock(**inputs, generator=generator(0)).images
    assert np.array_equal(np.asarray(result[0]), np.asarray(expected[0]))

    # Outside the stock call, the same name is this package's method: the SD pipeline's decode, not the deprecated one.
    latents = ours(**{**inputs, "output_type": "latent"}, generator=generator(0)).images
    sd = ScaledStableDiffusionPipeline(**{k: v for k, v in components.items() if k != "adapter"}, image_encoder=None)
    with torch.no_grad():
        decoded = ours.decode_latents(latents)
    assert np.array_equal(decoded, sd.decode_latents(latents))
    if output_type == "np":
        # and it differs from the stock method (`1 / f * z`, `x / 2 + 0.5`): without the dispatch, the first check fails
        assert not np.array_equal(decoded, expected)
