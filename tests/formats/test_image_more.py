"""More image families against their stock `__call__` (issue 13): HiDream, HunyuanImage 2.1 and its refiner, and
variants of the Qwen-Image, Z-Image, Sana and CogView4 families (ControlNet, control, edit-plus, edit-inpaint, Sprint);
CogView3-Plus (CogView4's `f * z`); AuraFlow, Lumina-Next and HunyuanDiT (+ PAG, ControlNet), whose SDXL VAE they scale
by its factor alone (`STABLE_DIFFUSION_XL_FACTOR_ONLY`); Ovis-Image (Flux.1's format).

`scaled(X)` decodes what X returns with `output_type="latent"` into what it returns with `output_type="np"` (and
`"pt"` for the new formats) on the same seed, bitwise; for the image-conditioned pipelines, `encode_latents` equals the
clean latents the stock pipeline encodes before it adds noise. One table: pipeline class name -> case; each pipeline is
built once per module. Every VAE has non-trivial statistics (a factor that is not 1, a shift, per-channel means), so a
wrong formula shows. Float32 on CPU: bitwise.
"""

import inspect
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Callable

import diffusers
import pytest
import torch
from _compare import assert_images_equal
from fixtures import (
    auraflow_components,
    cogview3plus_components,
    cogview4_control_components,
    generator,
    hidream_components,
    hidream_prompt_embeds,
    hunyuan_dit_components,
    hunyuan_dit_prompt_embeds,
    hunyuan_image_components,
    hunyuan_image_prompt_embeds,
    lumina_components,
    make_mask,
    make_pil_images,
    ovis_image_components,
    qwenimage_components,
    qwenimage_controlnet,
    qwenimage_prompt_embeds,
    sana_components,
    sana_controlnet,
    sana_prompt_embeds,
    sana_sprint_components,
    text_embeds,
    z_image_components,
    z_image_controlnet,
    z_image_prompt_embeds,
)

from diffusers_scaled import scaled
from diffusers_scaled.formats import _table, image


HEIGHT, WIDTH = 32, 48  # not square, so that a height/width mix-up fails
IMAGE, CONTROL = make_pil_images(2, (WIDTH, HEIGHT), seed=3)
MASK = make_mask((WIDTH, HEIGHT))
QWEN = {"prompt": None, "true_cfg_scale": 1.0, **qwenimage_prompt_embeds()}
Z_IMAGE = {"prompt": None, "guidance_scale": 0.0, **z_image_prompt_embeds()}
# (resolution binning, these pipelines' default, is the Sana code checked in tests/formats/test_image_families.py)
HUNYUAN_DIT = {"prompt": None, "use_resolution_binning": False, "width": 64, **hunyuan_dit_prompt_embeds()}
SANA = {"prompt": None, "use_resolution_binning": False, "width": 64, **sana_prompt_embeds()}  # multiples of 32


def with_controlnet(components, controlnet):
    return lambda: {**components(), "controlnet": controlnet()}


@dataclass(frozen=True)
class Case:
    components: Callable[[], dict]
    inputs: dict  # call inputs beyond size, steps and generator
    # "vae_image": `encode_latents` equals the stock `_encode_vae_image` of the preprocessed image; "img2img": also,
    # the stock call given our latents as its `image` (and the generator our encoding advanced) reproduces its call
    # from pixels; None: the pipeline encodes no image into its denoiser latents
    encode: str | None = None
    attributes: dict = field(default_factory=dict)  # set on both pipelines after construction
    # A pipeline whose `__call__` only runs at about 1024x1024 pixels (too large for the suite): the stock pipeline
    # whose decode code its own is, line for line, and which the decode test runs.
    decodes_like: str | None = None


CASES = {
    # HiDream generates at an area of (default_sample_size * vae_scale_factor) ** 2 pixels whatever the call asks
    # (it rescales height and width): 16 keeps it about 32x32.
    "HiDreamImagePipeline": Case(
        hidream_components,
        {"prompt": None, "guidance_scale": 1.0, **hidream_prompt_embeds()},
        attributes={"default_sample_size": 16},
    ),
    "HunyuanImagePipeline": Case(hunyuan_image_components, hunyuan_image_prompt_embeds()),
    "HunyuanImageRefinerPipeline": Case(
        partial(hunyuan_image_components, refiner=True),
        {"image": IMAGE, **hunyuan_image_prompt_embeds(refiner=True)},
        encode="img2img",
    ),
    "QwenImageControlNetPipeline": Case(
        with_controlnet(qwenimage_components, qwenimage_controlnet), {**QWEN, "control_image": CONTROL}
    ),
    "QwenImageControlNetInpaintPipeline": Case(
        with_controlnet(qwenimage_components, partial(qwenimage_controlnet, extra_condition_channels=4)),
        {**QWEN, "control_image": IMAGE, "control_mask": MASK},
    ),
    # Both resize their image to about 1024x1024 pixels (edit-plus: its condition images only; edit-inpaint: the
    # generation too) and encode it as `_encode_vae_image` does: that encoding is checked on small pixels.
    "QwenImageEditPlusPipeline": Case(
        partial(qwenimage_components, edit=True), {"image": IMAGE}, "vae_image", decodes_like="QwenImagePipeline"
    ),
    "QwenImageEditInpaintPipeline": Case(
        partial(qwenimage_components, edit=True),
        {"image": IMAGE},
        "vae_image",
        decodes_like="QwenImageInpaintPipeline",
    ),
    "ZImageControlNetPipeline": Case(
        with_controlnet(z_image_components, z_image_controlnet), {**Z_IMAGE, "control_image": CONTROL}
    ),
    "ZImageControlNetInpaintPipeline": Case(
        with_controlnet(z_image_components, partial(z_image_controlnet, control_in_dim=33)),
        {**Z_IMAGE, "control_image": CONTROL, "image": IMAGE, "mask_image": MASK},
    ),
    "SanaSprintPipeline": Case(sana_sprint_components, SANA),
    "SanaControlNetPipeline": Case(
        with_controlnet(sana_components, sana_controlnet), {**SANA, "guidance_scale": 1.0, "control_image": CONTROL}
    ),
    "CogView4ControlPipeline": Case(
        cogview4_control_components, {"guidance_scale": 1.0, "control_image": CONTROL, **text_embeds(1, 16, 32, None)}
    ),
    "CogView3PlusPipeline": Case(cogview3plus_components, {"guidance_scale": 1.0, **text_embeds(1, 8, 32, None)}),
    "AuraFlowPipeline": Case(auraflow_components, {"prompt": None, "guidance_scale": 1.0, **text_embeds(1, 8, 32)}),
    "LuminaPipeline": Case(lumina_components, {"prompt": None, "guidance_scale": 1.0, **text_embeds(1, 8, 8)}),
    "HunyuanDiTPipeline": Case(hunyuan_dit_components, {**HUNYUAN_DIT, "guidance_scale": 1.0}),
    # (its perturbed-attention batch needs classifier-free guidance on)
    "HunyuanDiTPAGPipeline": Case(
        lambda: {**hunyuan_dit_components(), "pag_applied_layers": ["blocks.1"]},
        {**HUNYUAN_DIT, **hunyuan_dit_prompt_embeds(negative=True), "guidance_scale": 5.0, "pag_scale": 3.0},
    ),
    "HunyuanDiTControlNetPipeline": Case(
        partial(hunyuan_dit_components, controlnet=True),
        {**HUNYUAN_DIT, "guidance_scale": 1.0, "control_image": CONTROL},
    ),
    "OvisImagePipeline": Case(ovis_image_components, {"guidance_scale": 1.0, **text_embeds(1, 8, 32, None)}),
}


# The first pipelines of their format: "pt" is checked too (the other cases reuse a format checked with "pt" elsewhere).
NEW_FORMATS = {"HiDreamImagePipeline", "HunyuanImagePipeline", "HunyuanImageRefinerPipeline"}


def stock_class(name):
    if not hasattr(diffusers, name):
        pytest.skip(f"{name} is not in diffusers {diffusers.__version__}")
    return getattr(diffusers, name)


@cache
def pipelines(name):
    """(stock pipeline, scaled pipeline), sharing one set of components, built once per module."""
    stock_cls, case = stock_class(name), CASES[name]
    components = case.components()
    built = []
    for pipeline_class in (stock_cls, scaled(stock_cls)):
        accepted = inspect.signature(pipeline_class.__init__).parameters
        pipe = pipeline_class(**{k: v for k, v in components.items() if k in accepted})
        pipe.set_progress_bar_config(disable=True)
        for key, value in case.attributes.items():
            setattr(pipe, key, value)
        built.append(pipe)
    return tuple(built)


def call(pipe, name, output_type, g=None, **overrides):
    kwargs = {"num_inference_steps": 2, "height": HEIGHT, "width": WIDTH, **CASES[name].inputs, **overrides}
    torch.manual_seed(0)  # for the pipelines that encode their control image with the global generator
    return pipe(**kwargs, generator=generator(0) if g is None else g, output_type=output_type).images


@pytest.mark.parametrize("name", sorted(n for n, case in CASES.items() if case.decodes_like is None))
def test_decode_latents_equals_stock_call(name):
    stock, pipe = pipelines(name)
    assert pipe.latent_format is _table.PROVEN[name][0]
    latents = call(pipe, name, "latent")
    size = {"height": HEIGHT, "width": WIDTH} if pipe.latent_format.packs else {}
    for output_type in ("np", "pt") if name in NEW_FORMATS else ("np",):
        expected = call(stock, name, output_type)
        with torch.no_grad():
            decoded = pipe.decode_latents(latents, output_type=output_type, **size)
        assert_images_equal(decoded, expected)


@pytest.mark.parametrize("name", sorted(n for n, case in CASES.items() if case.encode))
def test_encode_latents_equals_stock_vae_image_encoding(name):
    # The stock conditioned pipeline's own encoding of its image (`_encode_vae_image`, before any noise).
    stock, pipe = pipelines(name)
    image = CASES[name].inputs["image"]
    pixels = stock.image_processor.preprocess(image, height=HEIGHT, width=WIDTH)
    if pipe.latent_format.frame_axis:
        pixels = pixels.unsqueeze(2)  # one frame of a video VAE
    with torch.no_grad():
        expected = stock._encode_vae_image(pixels, generator=generator(0))
        assert torch.equal(pipe.encode_latents(image, generator=generator(0)), expected)


@pytest.mark.parametrize("name", sorted(n for n, case in CASES.items() if case.encode == "img2img"))
def test_encode_latents_reproduces_the_stock_call_from_pixels(name):
    # These pipelines pass a latent-channel tensor given as `image` through as their clean image latents.
    stock, pipe = pipelines(name)
    expected = call(stock, name, "np")
    g = generator(0)
    with torch.no_grad():
        latents = pipe.encode_latents(CASES[name].inputs["image"], generator=g)
    assert_images_equal(call(stock, name, "np", g=g, image=latents), expected)


def _decode_code(pipeline_class):
    source = inspect.getsource(pipeline_class.__call__)
    block = source[source.index('if output_type == "latent"') : source.index("self.maybe_free_model_hooks()")]
    return [line.strip() for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("name", sorted(n for n, case in CASES.items() if case.decodes_like))
def test_decode_is_the_code_of_a_pipeline_checked_against_its_call(name):
    # Its `__call__` decodes with the same code as a pipeline whose decode is checked bitwise against its stock call
    # (tests/pipelines/test_qwenimage.py, tests/formats/test_image_variants.py), and its format decodes as that one's.
    like = CASES[name].decodes_like
    assert _decode_code(stock_class(name)) == _decode_code(stock_class(like))
    fmt, like_fmt = _table.PROVEN[name][0], _table.PROVEN[like][0]
    assert (fmt.statistics, fmt.layout, fmt.frame_axis) == (like_fmt.statistics, like_fmt.layout, like_fmt.frame_axis)


@pytest.mark.parametrize(
    "name", sorted(n for n in CASES if _table.PROVEN[n][0] is image.STABLE_DIFFUSION_XL_FACTOR_ONLY)
)
def test_factor_only_pipelines_vae_has_statistics_they_ignore(name):
    # `test_decode_latents_equals_stock_call` passes for these pipelines with the factor alone although their VAE has
    # per-channel statistics; the SDXL format, which applies them, decodes latents differently (the check can fail).
    _, pipe = pipelines(name)
    assert pipe.vae.config.latents_mean is not None
    latents = torch.randn(1, 4, 4, 8, generator=generator(1))
    sdxl = image.STABLE_DIFFUSION_XL.unscale(pipe, latents)
    assert not torch.allclose(sdxl, pipe.latent_format.unscale(pipe, latents))
