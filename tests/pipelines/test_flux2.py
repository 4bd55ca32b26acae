"""`ScaledFlux2Pipeline` against the stock `Flux2Pipeline`.

Flux.2 keeps its latent statistics in the VAE's BatchNorm running statistics (`vae.bn.running_mean` / `running_var`,
`config.batch_norm_eps`), applied to the latents patchified 2x2 into channels; its transformer works on them flattened
into tokens. The tiny VAE's running statistics are set to non-default values. Float32 on CPU: bitwise.
"""

import diffusers
import numpy as np
import pytest


if not hasattr(diffusers, "Flux2Pipeline"):  # newer than the oldest diffusers this package supports
    pytest.skip(f"Flux2Pipeline is not in diffusers {diffusers.__version__}", allow_module_level=True)

import torch
from _compare import assert_images_equal
from diffusers import Flux2Pipeline
from fixtures import flux2_components, flux2_prompt_embeds, generator, make_pil_images

from diffusers_scaled import PackedLatentsMixin, ScaledFlux2Pipeline


HEIGHT, WIDTH = 32, 48


@pytest.fixture(scope="module")
def pipe():
    pipe = ScaledFlux2Pipeline(**flux2_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, output_type, seed=0, **overrides):
    inputs = {"num_inference_steps": 2, "height": HEIGHT, "width": WIDTH, "guidance_scale": 4.0, **overrides}
    return pipe(**flux2_prompt_embeds(), generator=generator(seed), output_type=output_type, **inputs).images


def test_batch_norm_statistics_are_not_defaults(pipe):
    assert not torch.equal(pipe.vae.bn.running_mean, torch.zeros_like(pipe.vae.bn.running_mean))
    assert not torch.equal(pipe.vae.bn.running_var, torch.ones_like(pipe.vae.bn.running_var))
    assert issubclass(ScaledFlux2Pipeline, PackedLatentsMixin)


@pytest.mark.parametrize("output_type", ["np", "pt"])
def test_decode_packed_latents_equals_pipeline_output(pipe, output_type):
    latents = generate(pipe, "latent")
    assert latents.shape == (1, (HEIGHT // 4) * (WIDTH // 4), 8)  # tokens of 2 channels patchified 2x2
    expected = generate(pipe, output_type)
    with torch.no_grad():
        images = pipe.decode_latents(latents, height=HEIGHT, width=WIDTH, output_type=output_type)
    assert_images_equal(images, expected)


def test_decode_with_a_reference_image_equals_pipeline_output(pipe):
    image = make_pil_images(1, (96, 64))[0]  # the pipeline's check wants reference images of 64 pixels or more
    latents = generate(pipe, "latent", image=image)
    with torch.no_grad():
        assert np.array_equal(
            pipe.decode_latents(latents, height=HEIGHT, width=WIDTH), generate(pipe, "np", image=image)
        )


def test_scaled_pipeline_generates_like_stock(pipe):
    stock = Flux2Pipeline(**pipe.components)
    stock.set_progress_bar_config(disable=True)
    assert np.array_equal(generate(pipe, "np", seed=3), generate(stock, "np", seed=3))


def test_encode_latents_equals_the_reference_image_latents(pipe):
    # The stock pipeline encodes each reference image on its own (`prepare_image_latents`: posterior mode, patchify,
    # BatchNorm statistics, pack). Its preprocessing crops to a multiple of twice the VAE's factor, which these
    # sizes already are.
    images = make_pil_images(2, (96, 64))
    with torch.no_grad():
        packed = pipe.encode_latents(images, packed=True)
        unpacked = pipe.encode_latents(images)
        for i, image in enumerate(images):
            pixels = pipe.image_processor.preprocess(image, height=64, width=96, resize_mode="crop")
            expected, _ = pipe.prepare_image_latents([pixels], 1, None, torch.device("cpu"), torch.float32)
            assert torch.equal(packed[i : i + 1], expected)
    assert unpacked.shape == (2, 8, 64 // 4, 96 // 4)  # patchified, where the statistics apply
    assert torch.equal(Flux2Pipeline._pack_latents(unpacked), packed)
