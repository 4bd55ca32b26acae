"""`ScaledZImagePipeline` / `ScaledZImageImg2ImgPipeline` against the stock Z-Image pipelines.

Z-Image's VAE is an AutoencoderKL with a `scaling_factor` and a `shift_factor` (`(z - shift) * f`), 4-D latents, 16
channels. Float32 on CPU: bitwise.
"""

import diffusers
import numpy as np
import pytest


if not hasattr(diffusers, "ZImagePipeline"):  # newer than the oldest diffusers this package supports
    pytest.skip(f"ZImagePipeline is not in diffusers {diffusers.__version__}", allow_module_level=True)

import torch
from diffusers import ZImageImg2ImgPipeline, ZImagePipeline
from fixtures import generator, make_pil_images, z_image_components, z_image_prompt_embeds

from diffusers_scaled import ScaledZImageImg2ImgPipeline, ScaledZImagePipeline


HEIGHT, WIDTH = 32, 48


@pytest.fixture(scope="module")
def components():
    return z_image_components()


def make(pipeline_class, components):
    pipe = pipeline_class(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, output_type, seed=0):
    inputs = {"num_inference_steps": 2, "height": HEIGHT, "width": WIDTH, "guidance_scale": 0.0}
    return pipe(**z_image_prompt_embeds(), generator=generator(seed), output_type=output_type, **inputs).images


@pytest.mark.parametrize("output_type", ["np", "pt"])
def test_decode_latents_equals_pipeline_output(components, output_type):
    pipe = make(ScaledZImagePipeline, components)
    latents = generate(pipe, "latent")
    assert latents.shape == (1, 16, HEIGHT // 2, WIDTH // 2)
    with torch.no_grad():
        images = pipe.decode_latents(latents, output_type=output_type)
    expected = generate(pipe, output_type)
    assert np.array_equal(np.asarray(images), np.asarray(expected))
    assert np.array_equal(generate(make(ZImagePipeline, components), output_type), np.asarray(expected))


def test_encode_latents_equals_img2img_encoding(components):
    # As for Flux: the stock img2img pipeline given our latents (it passes 16-channel tensors through), with the
    # generator our encoding advanced, reproduces its run from pixels.
    pipe = make(ScaledZImageImg2ImgPipeline, components)
    stock = make(ZImageImg2ImgPipeline, components)
    images = make_pil_images(2, (WIDTH, HEIGHT))
    inputs = {"num_inference_steps": 4, "strength": 0.5, "height": HEIGHT, "width": WIDTH, "guidance_scale": 0.0}
    embeds = z_image_prompt_embeds(2)
    expected = stock(image=images, generator=generator(0), output_type="np", **embeds, **inputs).images
    g = generator(0)
    with torch.no_grad():
        latents = pipe.encode_latents(images, generator=g)
    assert np.array_equal(stock(image=latents, generator=g, output_type="np", **embeds, **inputs).images, expected)
