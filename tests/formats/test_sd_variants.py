"""Image pipelines on the Stable Diffusion 1.x/2.x VAE beyond the base ones (Panorama, SAG, Attend-and-Excite, GLIGEN,
Depth2Img, the upscalers, the deprecated variants, ...) against their stock `__call__`: `scaled(X)` decodes what X
returns with `output_type="latent"` into what it returns with `output_type="np"` on the same seed, bitwise; the
pipelines that encode an image into their denoiser latents (img2img-like) reproduce their stock run from pixels when
given our encoding instead.

One table: pipeline class name -> (components factory, call inputs beyond prompt/size/steps, encode check). Float32 on
CPU: bitwise. Pipelines missing from the installed diffusers are skipped.
"""

import functools
import inspect

import numpy as np
import pytest
import torch
from fixtures import (
    PROMPT,
    controlnet_xs_components,
    diffusers_class,
    generator,
    ledits_components,
    make_mask,
    make_pil_images,
    make_pipeline,
    paint_by_example_components,
    sd_components,
    sd_depth2img_components,
    sd_gligen_components,
    sd_gligen_text_image_components,
    sd_image_variation_components,
    sd_inversion_components,
    sd_latent_upscale_components,
    sd_upscale_components,
    sdxl_variant_components,
    stable_unclip_components,
)

from diffusers_scaled import scaled
from diffusers_scaled.formats import _table, image


HEIGHT, WIDTH = 32, 48  # not square, so that a height/width mix-up fails
IMAGE, LOW_RES = make_pil_images(2, (WIDTH, HEIGHT), seed=3)
MASK = make_mask((WIDTH, HEIGHT))
IMG2IMG = {"image": IMAGE, "strength": 0.75}  # of 2 steps, 1 runs
DEPTH = torch.rand(1, HEIGHT, WIDTH, generator=generator(5))  # the depth estimator's output, in pixels
EMBEDS = torch.randn(4, 77, 32, generator=generator(6))
TEXT2VIDEO_ZERO = {"num_inference_steps": 4, "t0": 1, "t1": 2, "video_length": 2}


def paradigms_components():
    from diffusers import DDIMParallelScheduler  # ParaDiGMS denoises several steps at once with a parallel scheduler

    return {**sd_components(), "scheduler": DDIMParallelScheduler.from_config(sd_components()["scheduler"].config)}


def diffedit_inputs(stock):
    inversion = stock.invert(prompt=PROMPT, image=IMAGE, num_inference_steps=2, generator=generator(1)).latents
    mask = torch.zeros(1, HEIGHT // 2, WIDTH // 2)
    mask[:, :, WIDTH // 4 :] = 1
    return {"mask_image": mask, "image_latents": inversion, "inpaint_strength": 0.8}


# pipeline class name -> (components factory, call inputs beyond prompt/size/steps, encode check)
# call inputs: a dict, or a function of the stock pipeline that returns it (DiffEdit's inversion).
# encode check: "img2img" (the stock run from our latents equals its run from pixels), "prepare_latents" (the same for
# the stock `prepare_latents` alone: Depth2Img sizes its depth map from the image it is given, latents or pixels),
# "image_latents" (the stock `prepare_image_latents` of their inversion) or None (no image is encoded into the
# denoiser latents).
CASES = {
    "StableDiffusionPanoramaPipeline": (sd_components, {}, None),
    "StableDiffusionSAGPipeline": (sd_components, {"sag_scale": 1.0}, None),
    "StableDiffusionAttendAndExcitePipeline": (
        sd_components,
        # one latent update, no iterative refinement; `attn_res`: the tiny UNet's cross-attention maps
        {"token_indices": [2], "max_iter_to_alter": 1, "thresholds": {}, "attn_res": (8, 12)},
        None,
    ),
    "SemanticStableDiffusionPipeline": (sd_components, {"editing_prompt": "a cat", "edit_warmup_steps": 0}, None),
    "StableDiffusionParadigmsPipeline": (paradigms_components, {"parallel": 2}, None),
    "StableDiffusionModelEditingPipeline": (sd_components, {}, None),
    # AltDiffusion's XLM-RoBERTa encoder is swapped for the tiny CLIP one: the latent path does not depend on it.
    "AltDiffusionPipeline": (sd_components, {}, None),
    "AltDiffusionImg2ImgPipeline": (sd_components, IMG2IMG, "img2img"),
    "CycleDiffusionPipeline": (sd_components, {**IMG2IMG, "source_prompt": "a dog"}, "img2img"),
    "StableDiffusionInpaintPipelineLegacy": (sd_components, {**IMG2IMG, "mask_image": MASK}, None),
    "StableDiffusionGLIGENPipeline": (
        sd_gligen_components,
        {"gligen_phrases": ["a cat"], "gligen_boxes": [[0.1, 0.2, 0.6, 0.9]], "gligen_scheduled_sampling_beta": 1.0},
        None,
    ),
    "StableDiffusionGLIGENTextImagePipeline": (
        sd_gligen_text_image_components,
        {
            "gligen_phrases": ["a cat", None],
            "gligen_images": [None, LOW_RES],
            "gligen_boxes": [[0.1, 0.1, 0.5, 0.9], [0.5, 0.2, 0.9, 0.8]],
            "gligen_scheduled_sampling_beta": 1.0,
        },
        None,
    ),
    "StableDiffusionDepth2ImgPipeline": (sd_depth2img_components, {**IMG2IMG, "depth_map": DEPTH}, "prepare_latents"),
    "StableDiffusionUpscalePipeline": (sd_upscale_components, {"image": LOW_RES, "noise_level": 20}, None),
    # the low-resolution image encoded as the latents it upscales (2x): latent-channel images pass through
    "StableDiffusionLatentUpscalePipeline": (
        sd_latent_upscale_components,
        {"image": IMAGE, "guidance_scale": 0},
        "img2img",
    ),
    "StableDiffusionImageVariationPipeline": (sd_image_variation_components, {"image": IMAGE, "prompt": None}, None),
    "PaintByExamplePipeline": (
        paint_by_example_components,
        {"image": IMAGE, "mask_image": MASK, "example_image": LOW_RES, "prompt": None},
        None,
    ),
    "StableDiffusionControlNetXSPipeline": (controlnet_xs_components, {"image": LOW_RES}, None),
    # conditioned on CLIP image embeddings (of the image, or from a prior), never on VAE latents of an image
    "StableUnCLIPImg2ImgPipeline": (functools.partial(stable_unclip_components, img2img=True), {"image": IMAGE}, None),
    "StableUnCLIPPipeline": (stable_unclip_components, {"prior_num_inference_steps": 2}, None),
    # Text2Video-Zero: the frames are a batch of images (its motion field warps the latents of the first frame, from
    # step `t1` back to `t0` of 4)
    "TextToVideoZeroPipeline": (sd_components, TEXT2VIDEO_ZERO, None),
    "TextToVideoZeroSDXLPipeline": (sdxl_variant_components, TEXT2VIDEO_ZERO, None),
    "StableDiffusionXLControlNetXSPipeline": (
        functools.partial(controlnet_xs_components, xl=True),
        {"image": LOW_RES},
        None,
    ),
    # Pix2Pix-Zero's edit direction: the difference of the mean embeddings of two sets of prompts
    "StableDiffusionPix2PixZeroPipeline": (
        sd_inversion_components,
        {"source_embeds": EMBEDS[:2], "target_embeds": EMBEDS[2:]},
        "image_latents",
    ),
    # DiffEdit edits the latents its `invert` returns, inside a latent-sized mask
    "StableDiffusionDiffEditPipeline": (sd_inversion_components, diffedit_inputs, "image_latents"),
}


def call(pipe, inputs, output_type, g=None, **overrides):
    kwargs = {"prompt": PROMPT, "num_inference_steps": 2, "height": HEIGHT, "width": WIDTH, **inputs, **overrides}
    accepted = inspect.signature(type(pipe).__call__).parameters  # the img2img pipelines take the image's size
    kwargs = {k: v for k, v in kwargs.items() if k in accepted and v is not None}
    torch.manual_seed(0)  # for the pipelines that draw from the global generator
    return pipe(**kwargs, generator=generator(0) if g is None else g, output_type=output_type).images


@functools.cache
def pipelines(name):
    """The stock pipeline, its scaled class on the same components and the call inputs, made once per test session."""
    stock_cls = diffusers_class(name)
    components = CASES[name][0]()
    stock = make_pipeline(stock_cls, components)
    inputs = CASES[name][1]
    return stock, make_pipeline(scaled(stock_cls), components), inputs(stock) if callable(inputs) else inputs


@pytest.mark.parametrize("name", sorted(CASES))
def test_decode_latents_equals_stock_call(name):
    stock, pipe, inputs = pipelines(name)
    assert pipe.latent_format is _table.PROVEN[name][0]
    latents = call(pipe, inputs, "latent")
    expected = call(stock, inputs, "np")
    assert expected.std() > 0.05  # a real image, not a constant
    with torch.no_grad():
        decoded = pipe.decode_latents(latents)
    assert decoded.shape == expected.shape
    assert np.array_equal(decoded, expected)


@pytest.mark.parametrize("name", sorted(n for n, case in CASES.items() if case[2] == "img2img"))
def test_encode_latents_equals_img2img_encoding(name):
    # The stock img2img pipelines pass latent-channel tensors through: given our latents and the generator our encoding
    # advanced, the stock run reproduces its run from pixels (encode, then noise from the same generator).
    stock, pipe, inputs = pipelines(name)
    expected = call(stock, inputs, "np")
    g = generator(0)
    with torch.no_grad():
        latents = pipe.encode_latents(IMAGE, generator=g)
    assert latents.shape == (1, 4, HEIGHT // 2, WIDTH // 2)
    assert np.array_equal(call(stock, inputs, "np", g=g, image=latents), expected)


@pytest.mark.parametrize("name", sorted(n for n, case in CASES.items() if case[2] == "prepare_latents"))
def test_encode_latents_equals_stock_prepare_latents(name):
    # The stock `prepare_latents` passes latent-channel tensors through: from our latents and the generator our encoding
    # advanced, it returns the noisy latents it returns from pixels (encode, then noise from the same generator).
    stock, pipe, _ = pipelines(name)
    timestep = torch.tensor([500])
    pixels = stock.image_processor.preprocess(IMAGE)
    with torch.no_grad():
        expected = stock.prepare_latents(pixels, timestep, 1, 1, torch.float32, torch.device("cpu"), generator(0))
        g = generator(0)
        latents = pipe.encode_latents(IMAGE, generator=g)
        noisy = stock.prepare_latents(latents, timestep, 1, 1, torch.float32, torch.device("cpu"), g)
    assert latents.std() > 0.1
    assert torch.equal(noisy, expected)


@pytest.mark.parametrize("name", sorted(n for n, case in CASES.items() if case[2] == "image_latents"))
def test_encode_latents_equals_stock_image_latents(name):
    # What their `invert` starts from: the stock `prepare_image_latents` (a posterior sample, scaled), no noise.
    stock, pipe, _ = pipelines(name)
    pixels = stock.image_processor.preprocess(IMAGE)
    with torch.no_grad():
        expected = stock.prepare_image_latents(pixels, 1, torch.float32, torch.device("cpu"), generator(0))
        latents = pipe.encode_latents(IMAGE, generator=generator(0))
    assert latents.std() > 0.1
    assert torch.equal(latents, expected)


# LEDITS++ edits the latents of its own inversion (`invert`, then `__call__`), which encodes the posterior's mode.
LEDITS = {
    "LEditsPPPipelineStableDiffusion": (ledits_components, image.STABLE_DIFFUSION),
    "LEditsPPPipelineStableDiffusionXL": (
        functools.partial(ledits_components, xl=True),
        image.STABLE_DIFFUSION_XL_FACTOR_ONLY,
    ),
}
LEDITS_IMAGE = make_pil_images(1, (64, 32), seed=7)[0]  # its sides must be multiples of 32


def ledits(pipe, output_type):
    pipe.invert(image=LEDITS_IMAGE, source_prompt="", num_inversion_steps=2, skip=0.0, generator=generator(1))
    # no intersection mask: its cross-attention maps are read at the resolution of SD's UNet, not the tiny one's
    edit = {"editing_prompt": ["a cat"], "edit_warmup_steps": 0, "use_intersect_mask": False}
    return pipe(**edit, generator=generator(0), output_type=output_type).images


@pytest.mark.parametrize("name", sorted(LEDITS))
def test_ledits_decode_and_encode_equal_stock(name):
    stock_cls = diffusers_class(name)
    factory, fmt = LEDITS[name]
    components = factory()
    stock, pipe = make_pipeline(stock_cls, components), make_pipeline(scaled(stock_cls), components)
    assert pipe.latent_format is _table.PROVEN[name][0] is fmt
    latents = ledits(pipe, "latent")
    expected = ledits(stock, "np")
    assert expected.shape == (1, 32, 64, 3) and expected.std() > 0.05
    with torch.no_grad():
        assert np.array_equal(pipe.decode_latents(latents), expected)
        inversion_start, _ = stock.encode_image(LEDITS_IMAGE)
        assert torch.equal(pipe.encode_latents(LEDITS_IMAGE, sample_mode="argmax"), inversion_start)
