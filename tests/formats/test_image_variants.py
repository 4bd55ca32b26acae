"""Variants of the SD / SDXL pipelines (ControlNet, PAG, T2I-Adapter, InstructPix2Pix, LCM, ControlNet-Union, Kolors) against
their stock `__call__`: `scaled(X)` decodes what X returns with `output_type="latent"` into what it returns with
`output_type="np"` on the same seed, bitwise; the img2img variants' encoding reproduces the stock run from pixels, the
inpainting variants' encoding equals their stock `_encode_vae_image`.

One table: pipeline class name -> (components factory, call inputs, encode check). The SDXL variants' VAE carries
Playground v2.5's per-channel statistics, so a variant that applies them and one that ignores them (its own format,
`STABLE_DIFFUSION_XL_FACTOR_ONLY`) cannot be confused. Float32 on CPU: bitwise.
"""

import inspect
from functools import partial

import diffusers
import numpy as np
import pytest
import torch
from fixtures import (
    PROMPT,
    generator,
    kolors_components,
    kolors_prompt_embeds,
    lcm_components,
    make_mask,
    make_pil_images,
    sd_adapter_components,
    sd_variant_components,
    sdxl_adapter_components,
    sdxl_variant_components,
)

from diffusers_scaled import scaled
from diffusers_scaled.formats import _table, image


HEIGHT, WIDTH = 32, 48  # not square, so that a height/width mix-up fails
IMAGE, CONTROL = make_pil_images(2, (WIDTH, HEIGHT), seed=3)
MASK = make_mask((WIDTH, HEIGHT))

SD = sd_variant_components
SD_INPAINT = partial(sd_variant_components, inpaint=True)
SD_CONTROLNET = partial(sd_variant_components, controlnet=True)
SD_CONTROLNET_INPAINT = partial(sd_variant_components, inpaint=True, controlnet=True)
SDXL = sdxl_variant_components
SDXL_CONTROLNET = partial(sdxl_variant_components, controlnet="controlnet")
SDXL_UNION = partial(sdxl_variant_components, controlnet="union")

IMG2IMG = {"image": IMAGE, "strength": 0.75}  # of 2 steps, 1 runs
INPAINT = {"image": IMAGE, "mask_image": MASK, "strength": 0.75}
PAG = {"pag_scale": 3.0}
UNION = {"control_image": [CONTROL], "control_mode": [1]}
KOLORS = {"prompt": None, **kolors_prompt_embeds()}  # no ChatGLM tokenizer offline

# pipeline class name -> (components factory, call inputs beyond prompt/size/steps, encode check)
# encode check: "img2img" (the stock run from our latents equals its run from pixels), "inpaint" (the stock
# `_encode_vae_image`), None (the pipeline encodes no image into its denoiser latents, or, for the SDXL inpainting
# pipelines that decode with the statistics, encodes without them: see tests/test_latent_spaces.py).
CASES = {
    "StableDiffusionControlNetPipeline": (SD_CONTROLNET, {"image": CONTROL}, None),
    "StableDiffusionControlNetImg2ImgPipeline": (SD_CONTROLNET, {**IMG2IMG, "control_image": CONTROL}, "img2img"),
    "StableDiffusionControlNetInpaintPipeline": (
        SD_CONTROLNET_INPAINT,
        {**INPAINT, "control_image": CONTROL},
        "inpaint",
    ),
    "StableDiffusionPAGPipeline": (SD, PAG, None),
    "StableDiffusionPAGImg2ImgPipeline": (SD, {**IMG2IMG, **PAG}, "img2img"),
    "StableDiffusionPAGInpaintPipeline": (SD_INPAINT, {**INPAINT, **PAG}, "inpaint"),
    "StableDiffusionControlNetPAGPipeline": (SD_CONTROLNET, {"image": CONTROL, **PAG}, None),
    "StableDiffusionControlNetPAGInpaintPipeline": (
        SD_CONTROLNET_INPAINT,
        {**INPAINT, "control_image": CONTROL, **PAG},
        "inpaint",
    ),
    "StableDiffusionAdapterPipeline": (sd_adapter_components, {"image": CONTROL}, None),
    "LatentConsistencyModelImg2ImgPipeline": (lcm_components, IMG2IMG, "img2img"),
    "StableDiffusionInstructPix2PixPipeline": (partial(SD, unet_in_channels=8), {"image": IMAGE}, None),
    "StableDiffusionXLControlNetPipeline": (SDXL_CONTROLNET, {"image": CONTROL}, None),
    "StableDiffusionXLControlNetImg2ImgPipeline": (SDXL_CONTROLNET, {**IMG2IMG, "control_image": CONTROL}, "img2img"),
    "StableDiffusionXLControlNetInpaintPipeline": (SDXL_CONTROLNET, {**INPAINT, "control_image": CONTROL}, "inpaint"),
    "StableDiffusionXLPAGPipeline": (SDXL, PAG, None),
    "StableDiffusionXLPAGImg2ImgPipeline": (SDXL, {**IMG2IMG, **PAG}, "img2img"),
    "StableDiffusionXLPAGInpaintPipeline": (SDXL, {**INPAINT, **PAG}, None),
    "StableDiffusionXLControlNetPAGPipeline": (SDXL_CONTROLNET, {"image": CONTROL, **PAG}, None),
    "StableDiffusionXLControlNetPAGImg2ImgPipeline": (
        SDXL_CONTROLNET,
        {**IMG2IMG, "control_image": CONTROL, **PAG},
        "img2img",
    ),
    "StableDiffusionXLControlNetUnionPipeline": (SDXL_UNION, UNION, None),
    "StableDiffusionXLControlNetUnionImg2ImgPipeline": (SDXL_UNION, {**IMG2IMG, **UNION}, "img2img"),
    "StableDiffusionXLControlNetUnionInpaintPipeline": (SDXL_UNION, {**INPAINT, **UNION}, "inpaint"),
    "StableDiffusionXLAdapterPipeline": (sdxl_adapter_components, {"image": CONTROL}, None),
    "StableDiffusionXLInstructPix2PixPipeline": (partial(SDXL, unet_in_channels=8), {"image": IMAGE}, None),
    "KolorsPipeline": (kolors_components, KOLORS, None),
    "KolorsPAGPipeline": (kolors_components, {**KOLORS, **PAG}, None),
}


def stock_class(name):
    if not hasattr(diffusers, name):
        pytest.skip(f"{name} is not in diffusers {diffusers.__version__}")
    pipeline_class = getattr(diffusers, name)
    if type(pipeline_class).__name__ == "DummyObject":  # Kolors without `sentencepiece` (in the test extras)
        pytest.skip(f"{name} needs a backend that is not installed: {pipeline_class._backends}")
    return pipeline_class


def make(pipeline_class, components):
    accepted = inspect.signature(pipeline_class.__init__).parameters
    pipe = pipeline_class(**{k: v for k, v in components.items() if k in accepted})
    pipe.set_progress_bar_config(disable=True)
    return pipe


def call(pipe, inputs, output_type, g=None, **overrides):
    kwargs = {"prompt": PROMPT, "num_inference_steps": 2, "height": HEIGHT, "width": WIDTH, **inputs, **overrides}
    accepted = inspect.signature(type(pipe).__call__).parameters  # the img2img pipelines take the image's size
    kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    return pipe(**kwargs, generator=generator(0) if g is None else g, output_type=output_type).images


@pytest.mark.parametrize("name", sorted(CASES))
def test_decode_latents_equals_stock_call(name):
    stock = stock_class(name)
    factory, inputs, _ = CASES[name]
    components = factory()
    pipe = make(scaled(stock), components)
    assert pipe.latent_format is _table.PROVEN[name][0]
    latents = call(pipe, inputs, "latent")
    expected = call(make(stock, components), inputs, "np")
    with torch.no_grad():
        decoded = pipe.decode_latents(latents)
    assert decoded.shape == (1, HEIGHT, WIDTH, 3)
    assert np.array_equal(decoded, expected)


@pytest.mark.parametrize("name", sorted(n for n, case in CASES.items() if case[2] == "img2img"))
def test_encode_latents_equals_img2img_encoding(name):
    # The stock img2img pipelines pass latent-channel tensors through: given our latents and the generator our encoding
    # advanced, the stock run reproduces its run from pixels (encode, then noise from the same generator).
    stock_cls = stock_class(name)
    factory, inputs, _ = CASES[name]
    components = factory()
    stock, pipe = make(stock_cls, components), make(scaled(stock_cls), components)
    expected = call(stock, inputs, "np")
    g = generator(0)
    with torch.no_grad():
        latents = pipe.encode_latents(IMAGE, generator=g)
    assert latents.shape == (1, 4, HEIGHT // 2, WIDTH // 2)
    assert np.array_equal(call(stock, inputs, "np", g=g, image=latents), expected)


@pytest.mark.parametrize("name", sorted(n for n, case in CASES.items() if case[2] == "inpaint"))
def test_encode_latents_equals_inpaint_encoding(name):
    stock_cls = stock_class(name)
    factory, _, _ = CASES[name]
    components = factory()
    stock, pipe = make(stock_cls, components), make(scaled(stock_cls), components)
    pixels = stock.image_processor.preprocess(IMAGE, height=HEIGHT, width=WIDTH)
    with torch.no_grad():
        expected = stock._encode_vae_image(pixels, generator=generator(0))
        assert torch.equal(pipe.encode_latents(IMAGE, generator=generator(0)), expected)


@pytest.mark.parametrize(
    "name",
    sorted(n for n, case in CASES.items() if _table.PROVEN[n][0] is image.STABLE_DIFFUSION_XL_FACTOR_ONLY),
)
def test_factor_only_pipelines_ignore_the_statistics(name):
    # The decode check above passes for these pipelines because they ignore the VAE's `latents_mean`/`latents_std`;
    # the SDXL format, which applies them, decodes their latents differently (the check can fail).
    stock_cls = stock_class(name)
    factory, inputs, _ = CASES[name]
    components = factory()
    assert components["vae"].config.latents_mean is not None
    latents = call(make(stock_cls, components), inputs, "latent")
    sdxl = make(scaled(diffusers.StableDiffusionXLPipeline), components)
    with torch.no_grad():
        assert not np.allclose(
            sdxl.decode_latents(latents), make(scaled(stock_cls), components).decode_latents(latents)
        )


def test_t2i_adapter_decodes_like_its_deprecated_decode_latents():
    # Its `__call__` decodes through the deprecated `decode_latents` (`1 / f * x`), for "pil" as for "np"; with
    # `output_type="pt"` it returns that same numpy array, where ours returns the tensor of the same values.
    name = "StableDiffusionAdapterPipeline"
    factory, inputs, _ = CASES[name]
    components = factory()
    stock, pipe = make(stock_class(name), components), make(scaled(stock_class(name)), components)
    latents = call(pipe, inputs, "latent")
    with torch.no_grad():
        pil = pipe.decode_latents(latents, output_type="pil")
        tensor = pipe.decode_latents(latents, output_type="pt")
    assert np.array_equal(np.asarray(pil[0]), np.asarray(call(stock, inputs, "pil")[0]))
    stock_pt = call(stock, inputs, "pt")
    assert isinstance(stock_pt, np.ndarray) and isinstance(tensor, torch.Tensor)
    assert np.array_equal(tensor.permute(0, 2, 3, 1).numpy(), stock_pt)
