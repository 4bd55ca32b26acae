"""`ScaledStableDiffusion3Pipeline` / `ScaledStableDiffusion3Img2ImgPipeline` against the stock SD3 pipelines.

SD3's VAE has a `shift_factor`: the pipelines encode to `(z - shift) * scale` and decode `z / scale + shift`. All in
float32 on CPU with tiny components, where both paths run the same operations in the same order: bitwise.
"""

import numpy as np
import pytest
import torch
from diffusers import StableDiffusion3Img2ImgPipeline, StableDiffusion3Pipeline
from fixtures import PROMPT, generator, make_pil_images, sd3_components

from diffusers_scaled import ScaledStableDiffusion3Img2ImgPipeline, ScaledStableDiffusion3Pipeline


SIZE = 32


def make(pipeline_class):
    pipe = pipeline_class(**sd3_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def pipe():
    return make(ScaledStableDiffusion3Pipeline)


@pytest.fixture(scope="module")
def img2img():
    return make(ScaledStableDiffusion3Img2ImgPipeline)


def test_vae_config_has_a_shift(pipe):
    # Otherwise the tests below would not exercise the shift.
    assert pipe.vae.config.shift_factor not in (None, 0)
    assert pipe.latent_scaling.shift_factor == pipe.vae.config.shift_factor


@pytest.mark.parametrize("output_type", ["np", "pt"])
def test_decode_latents_equals_pipeline_output(pipe, output_type):
    inputs = {"prompt": PROMPT, "num_inference_steps": 2, "height": SIZE, "width": SIZE}
    latents = pipe(**inputs, generator=generator(0), output_type="latent").images
    expected = pipe(**inputs, generator=generator(0), output_type=output_type).images
    with torch.no_grad():
        images = pipe.decode_latents(latents, output_type=output_type)
    if output_type == "np":
        assert np.array_equal(images, expected)
    else:
        assert torch.equal(images, expected)


def test_scaled_pipeline_generates_like_stock(pipe):
    # Same components, same call: the subclass changes nothing in generation.
    stock = StableDiffusion3Pipeline(**pipe.components)
    stock.set_progress_bar_config(disable=True)
    inputs = {"prompt": PROMPT, "num_inference_steps": 2, "height": SIZE, "width": SIZE, "output_type": "np"}
    assert np.array_equal(
        pipe(**inputs, generator=generator(1)).images, stock(**inputs, generator=generator(1)).images
    )


@pytest.mark.parametrize("per_image_generators", [False, True])
def test_encode_latents_equals_img2img_encoding(img2img, per_image_generators):
    # The stock img2img pipeline encodes `image` and then draws noise from the same generator. Feeding it our latents
    # (the pipeline passes latent-channel tensors through) with the generator our encoding advanced must reproduce the
    # stock run from pixels exactly: same encoding, same shift and scale, same generator state for the noise.
    stock = StableDiffusion3Img2ImgPipeline(**img2img.components)
    stock.set_progress_bar_config(disable=True)
    images = make_pil_images(2, (SIZE, SIZE))
    inputs = {"prompt": [PROMPT] * 2, "num_inference_steps": 4, "strength": 0.5, "height": SIZE, "width": SIZE}
    inputs["output_type"] = "np"

    def gen():
        return [generator(0), generator(1)] if per_image_generators else generator(0)

    expected = stock(image=images, generator=gen(), **inputs).images
    g = gen()
    with torch.no_grad():
        latents = img2img.encode_latents(images, generator=g)
    assert latents.shape == (2, 4, SIZE // 2, SIZE // 2)
    assert np.array_equal(stock(image=latents, generator=g, **inputs).images, expected)


def test_round_trip_undoes_the_shift(img2img):
    # encode -> decode equals decoding the VAE's own posterior mode: the shift and scale cancel. Not bitwise: `(z - s)
    # * f / f + s` rounds differently from `z` in float32, by a few ulps of the latents.
    image = make_pil_images(1, (SIZE, SIZE))
    with torch.no_grad():
        latents = img2img.encode_latents(image, sample_mode="argmax")
        decoded = img2img.decode_latents(latents, output_type="pt")
        pixels = img2img.image_processor.preprocess(image)
        direct = img2img.vae.decode(img2img.vae.encode(pixels).latent_dist.mode()).sample
    direct = img2img.image_processor.postprocess(direct, output_type="pt")
    assert decoded.shape == (1, 3, SIZE, SIZE)
    torch.testing.assert_close(decoded, direct, rtol=0, atol=1e-5)
