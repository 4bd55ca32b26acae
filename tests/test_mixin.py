"""`ScaledLatentsMixin` against the stock diffusers code paths, on the same inputs and generator state.

Everything runs in float32 on CPU, where the stock path and ours perform the same operations in the same order, so
every comparison is bitwise unless a test says otherwise (and why).
"""

import copy
import warnings

import numpy as np
import pytest
import torch
from _compare import assert_equals_stock_upcast
from diffusers import (
    StableDiffusionImg2ImgPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLImg2ImgPipeline,
)
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents
from diffusers.utils.torch_utils import randn_tensor
from fixtures import PROMPT, generator, make_pil_images, sd_components, sdxl_components, tiny_vae_kl

from diffusers_scaled import (
    ScaledStableDiffusionImg2ImgPipeline,
    ScaledStableDiffusionPipeline,
    ScaledStableDiffusionXLImg2ImgPipeline,
    ScaledStableDiffusionXLPipeline,
)


SIZE = 32  # pixels; the tiny VAEs have a scale factor of 2
PIPELINES = {
    "sd": (ScaledStableDiffusionPipeline, sd_components, False),
    "sd-img2img": (ScaledStableDiffusionImg2ImgPipeline, sd_components, True),
    "sdxl": (ScaledStableDiffusionXLPipeline, sdxl_components, False),
    "sdxl-img2img": (ScaledStableDiffusionXLImg2ImgPipeline, sdxl_components, True),
}
STOCK_PREPARE_LATENTS = {
    ScaledStableDiffusionImg2ImgPipeline: StableDiffusionImg2ImgPipeline.prepare_latents,
    ScaledStableDiffusionXLImg2ImgPipeline: StableDiffusionXLImg2ImgPipeline.prepare_latents,
}


def make_pipe(name, vae="kl", components=None):
    pipeline_class, factory, _ = PIPELINES[name]
    pipe = pipeline_class(**(components or factory(vae=vae)))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def call_inputs(name, seed=0, batch_size=1, **overrides):
    inputs = {
        "prompt": [PROMPT] * batch_size,
        "num_inference_steps": 2,
        "generator": generator(seed),
        "height": SIZE,
        "width": SIZE,
    }
    if PIPELINES[name][2]:  # img2img
        inputs.update(image=make_pil_images(batch_size, (SIZE, SIZE), seed=1), strength=0.75)
        del inputs["height"], inputs["width"]
    inputs.update(overrides)
    return inputs


def assert_same_images(ours, stock, output_type):
    if output_type == "pil":
        assert len(ours) == len(stock)
        for a, b in zip(ours, stock):
            assert a.size == b.size and a.mode == b.mode
            assert np.array_equal(np.asarray(a), np.asarray(b))
    elif output_type == "np":
        assert ours.dtype == stock.dtype and ours.shape == stock.shape
        assert np.array_equal(ours, stock)
    else:
        assert ours.dtype == stock.dtype and ours.shape == stock.shape
        assert torch.equal(ours, stock)


@pytest.fixture(scope="module", params=[(name, vae) for name in PIPELINES for vae in ("kl", "tiny")], ids=str)
def pipe_and_name(request):
    name, vae = request.param
    return make_pipe(name, vae), name


@pytest.fixture(scope="module")
def latents(pipe_and_name):
    """What the pipeline returns with `output_type="latent"` for `call_inputs(name, batch_size=2)`: one run per
    pipeline, shared by the decode tests (each runs the stock call for its output type with the same inputs)."""
    pipe, name = pipe_and_name
    return pipe(**call_inputs(name, batch_size=2), output_type="latent").images


# decode_latents ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("output_type", ["pil", "np", "pt"])
def test_decode_latents_equals_pipeline_output(pipe_and_name, latents, output_type):
    pipe, name = pipe_and_name
    stock = pipe(**call_inputs(name, batch_size=2), output_type=output_type).images
    with torch.no_grad():
        ours = pipe.decode_latents(latents, output_type=output_type)
    assert_same_images(ours, stock, output_type)


def test_decode_latents_return_dict(pipe_and_name, latents):
    pipe, _ = pipe_and_name
    output = pipe.decode_latents(latents, output_type="np", return_dict=True)
    assert_same_images(output.images, pipe.decode_latents(latents), "np")


@pytest.mark.parametrize("name", ["sd", "sd-img2img"])
def test_decode_latents_matches_deprecated_method_without_any_warning(name, capfd):
    pipe = make_pipe(name)
    latents = pipe(**call_inputs(name, batch_size=2), output_type="latent").images
    with pytest.warns(FutureWarning, match="deprecated"), torch.no_grad():
        deprecated = StableDiffusionPipeline.decode_latents(pipe, latents)
    capfd.readouterr()

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning of any category fails the test
        ours = pipe.decode_latents(latents)
    assert capfd.readouterr().err == ""

    assert isinstance(ours, np.ndarray) and ours.dtype == np.float32 and ours.shape == deprecated.shape
    # The deprecated method multiplies by `1 / scaling_factor` where the pipelines divide: one rounding apart.
    np.testing.assert_allclose(ours, deprecated, rtol=0, atol=1e-5)


def test_decode_latents_works_with_autograd_enabled():
    pipe = make_pipe("sd")
    latents = pipe(**call_inputs("sd"), output_type="latent").images
    assert torch.is_grad_enabled() and any(p.requires_grad for p in pipe.vae.parameters())
    with pytest.raises(RuntimeError, match="requires grad"):  # the stock method, outside torch.no_grad()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            StableDiffusionPipeline.decode_latents(pipe, latents)

    for output_type in ("np", "pil"):
        assert_same_images(
            pipe.decode_latents(latents, output_type=output_type),
            pipe(**call_inputs("sd"), output_type=output_type).images,
            output_type,
        )

    # "pt" keeps the graph, so the decoder can be trained or guided through.
    latents = latents.clone().requires_grad_(True)
    image = pipe.decode_latents(latents, output_type="pt")
    image.mean().backward()
    assert latents.grad is not None and latents.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["sd", "sdxl"])
def test_decode_respects_vae_slicing_and_tiling(name):
    pipe = make_pipe(name)
    pipe.vae.enable_slicing()
    pipe.vae.enable_tiling()
    # 48 pixels -> 24x24 latents, above the tiny VAE's 16-latent tile: decoding goes through the tiled path.
    assert pipe.vae.use_tiling and 48 // pipe.vae_scale_factor > pipe.vae.tile_latent_min_size
    inputs = call_inputs(name, batch_size=2, height=48, width=48)
    latents = pipe(**inputs, output_type="latent").images
    stock = pipe(**call_inputs(name, batch_size=2, height=48, width=48), output_type="np").images
    assert_same_images(pipe.decode_latents(latents), stock, "np")

    pipe.vae.disable_tiling()
    assert not np.array_equal(pipe.decode_latents(latents), stock)  # the tiled path was really taken


# encode_latents ---------------------------------------------------------------------------------------------------


def stock_encode(pipe, images, generator, timestep=None):
    """The img2img pipelines' own `prepare_latents`, called as the stock class defines it."""
    pixels = pipe.image_processor.preprocess(images)
    kwargs = {"add_noise": False} if isinstance(pipe, StableDiffusionXLImg2ImgPipeline) else {}
    return STOCK_PREPARE_LATENTS[type(pipe)](
        pipe, pixels, timestep, pixels.shape[0], 1, pipe.vae.dtype, torch.device("cpu"), generator, **kwargs
    )


@pytest.mark.parametrize("vae", ["kl", "tiny"])
@pytest.mark.parametrize("name", ["sd-img2img", "sdxl-img2img"])
@pytest.mark.parametrize("generators", ["single", "list"])
def test_encode_latents_equals_img2img_prepare_latents(name, vae, generators):
    pipe = make_pipe(name, vae)
    images = make_pil_images(3, (SIZE, SIZE), seed=2)

    def make_generator():
        return generator(7) if generators == "single" else [generator(7 + i) for i in range(len(images))]

    ours_generator = make_generator()
    ours = pipe.encode_latents(images, generator=ours_generator)

    if name == "sdxl-img2img":
        expected = stock_encode(pipe, images, make_generator())
    else:
        # SD's prepare_latents always adds noise: draw the same noise from our generator's next state.
        pipe.scheduler.set_timesteps(4)
        timestep = pipe.scheduler.timesteps[:1].repeat(len(images))
        noisy = stock_encode(pipe, images, make_generator(), timestep)
        noise = randn_tensor(ours.shape, generator=ours_generator, dtype=ours.dtype)
        expected = noisy
        ours = pipe.scheduler.add_noise(ours, noise, timestep)
    assert torch.equal(ours, expected)


@pytest.mark.parametrize("vae", ["kl", "tiny"])
def test_encode_latents_equals_retrieve_latents_times_factor(vae):
    pipe = make_pipe("sd-img2img", vae)
    images = make_pil_images(2, (SIZE, SIZE), seed=3)
    pixels = pipe.image_processor.preprocess(images)

    expected = retrieve_latents(pipe.vae.encode(pixels), generator(5)) * pipe.vae.config.scaling_factor
    assert torch.equal(pipe.encode_latents(images, generator=generator(5)), expected)

    per_image = [generator(5), generator(6)]
    expected = (
        torch.cat([retrieve_latents(pipe.vae.encode(pixels[i : i + 1]), g) for i, g in enumerate(per_image)])
        * pipe.vae.config.scaling_factor
    )
    assert torch.equal(pipe.encode_latents(images, generator=[generator(5), generator(6)]), expected)

    expected = retrieve_latents(pipe.vae.encode(pixels), sample_mode="argmax") * pipe.vae.config.scaling_factor
    assert torch.equal(pipe.encode_latents(images, sample_mode="argmax"), expected)


def test_encode_latents_sampling_is_seeded():
    pipe = make_pipe("sd-img2img")
    images = make_pil_images(1, (SIZE, SIZE))
    first = pipe.encode_latents(images, generator=generator(1))
    assert torch.equal(first, pipe.encode_latents(images, generator=generator(1)))
    assert not torch.equal(first, pipe.encode_latents(images, generator=generator(2)))
    assert torch.equal(
        pipe.encode_latents(images, sample_mode="argmax"), pipe.encode_latents(images, sample_mode="argmax")
    )


def test_encode_respects_vae_slicing_and_tiling():
    pipe = make_pipe("sd-img2img")
    pipe.vae.enable_slicing()
    pipe.vae.enable_tiling()
    images = make_pil_images(2, (48, 48), seed=4)  # above the tiny VAE's 32-pixel tile
    pixels = pipe.image_processor.preprocess(images)
    stock = retrieve_latents(pipe.vae.encode(pixels), generator(3)) * pipe.vae.config.scaling_factor
    assert torch.equal(pipe.encode_latents(images, generator=generator(3)), stock)
    pipe.vae.disable_tiling()
    assert not torch.equal(pipe.encode_latents(images, generator=generator(3)), stock)


# float16 VAE with force_upcast (SDXL) -------------------------------------------------------------------------------


def fp16_vae_sdxl_components():
    components = sdxl_components()
    components["vae"].to(torch.float16)
    assert components["vae"].config.force_upcast
    return components


def test_sdxl_fp16_vae_force_upcast_decode_equals_stock():
    pipe = make_pipe("sdxl", components=fp16_vae_sdxl_components())
    latents = pipe(**call_inputs("sdxl", batch_size=2), output_type="latent").images
    stock = pipe(**call_inputs("sdxl", batch_size=2), output_type="np").images
    assert pipe.vae.dtype == torch.float16  # the stock path converted it back

    ours = pipe.decode_latents(latents)
    assert pipe.vae.dtype == torch.float16  # ours never converted it
    assert_equals_stock_upcast(ours, stock)

    # Without the upcast the float16 decode is a different computation: the test would notice a missing upcast.
    no_upcast = copy.deepcopy(pipe.vae)
    no_upcast.register_to_config(force_upcast=False)
    pipe_no_upcast = make_pipe("sdxl", components={**pipe.components, "vae": no_upcast})
    assert not np.array_equal(pipe_no_upcast.decode_latents(latents), ours)


def test_sdxl_fp16_vae_force_upcast_encode_equals_stock():
    components = fp16_vae_sdxl_components()
    pipe = make_pipe("sdxl-img2img", components=components)
    images = make_pil_images(2, (SIZE, SIZE), seed=5)
    ours = pipe.encode_latents(images, generator=generator(9))
    assert pipe.vae.dtype == torch.float16 and ours.dtype == torch.float16

    # The stock path leaves the VAE in the dtype it is given: run it on a copy.
    stock_pipe = make_pipe("sdxl-img2img", components={**components, "vae": copy.deepcopy(components["vae"])})
    pixels = stock_pipe.image_processor.preprocess(images)
    stock = StableDiffusionXLImg2ImgPipeline.prepare_latents(
        stock_pipe, pixels, None, 2, 1, torch.float16, torch.device("cpu"), generator(9), add_noise=False
    )
    assert torch.equal(ours, stock)


# round trips --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipe_scale_8():
    """A pipeline whose VAE downsamples by 8, as the real SD VAEs do."""
    vae = tiny_vae_kl(
        block_out_channels=[4, 4, 4, 4],
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
    )
    pipe = make_pipe("sd-img2img", components={**sd_components(), "vae": vae})
    assert pipe.vae_scale_factor == 8
    return pipe


def _image_inputs():
    pil = make_pil_images(2, (70, 45), seed=6)  # PIL size is (width, height)
    array = np.stack([np.asarray(image, dtype=np.float32) / 255 for image in pil])  # (B, H, W, C) in [0, 1]
    tensor = torch.from_numpy(array).permute(0, 3, 1, 2)  # (B, C, H, W) in [0, 1]
    return {
        "pil": pil[0],
        "pil-list": pil,
        "np-hwc": array[0],
        "np-bhwc": array,
        "pt-chw": tensor[0],
        "pt-bchw": tensor,
        "pt-list": list(tensor),
    }


@pytest.mark.parametrize("kind", list(_image_inputs()))
@pytest.mark.parametrize("output_type", ["pil", "np", "pt"])
def test_round_trip_keeps_size(pipe_scale_8, kind, output_type):
    image = _image_inputs()[kind]
    batch_size = 1 if kind in ("pil", "np-hwc", "pt-chw") else 2
    with torch.no_grad():
        latents = pipe_scale_8.encode_latents(image, sample_mode="argmax")
        assert latents.shape == (batch_size, 4, 40 // 8, 64 // 8)
        decoded = pipe_scale_8.decode_latents(latents, output_type=output_type)
    # 70x45 becomes 64x40: the image processor rounds each side down to a multiple of the VAE's scale factor.
    if output_type == "pil":
        assert [image.size for image in decoded] == [(64, 40)] * batch_size
    elif output_type == "np":
        assert decoded.shape == (batch_size, 40, 64, 3) and decoded.dtype == np.float32
        assert decoded.min() >= 0 and decoded.max() <= 1
    else:
        assert decoded.shape == (batch_size, 3, 40, 64)


def test_encode_height_width_resize_as_image_processor(pipe_scale_8):
    image = make_pil_images(1, (70, 45))[0]
    latents = pipe_scale_8.encode_latents(image, sample_mode="argmax", height=32, width=48)
    pixels = pipe_scale_8.image_processor.preprocess(image, height=32, width=48)
    expected = retrieve_latents(pipe_scale_8.vae.encode(pixels), sample_mode="argmax")
    assert torch.equal(latents, expected * pipe_scale_8.vae.config.scaling_factor)
    assert latents.shape == (1, 4, 4, 6)
