"""Qwen-Image (`QwenImagePipeline`, `QwenImageImg2ImgPipeline`, `QwenImageEditPipeline`) against the stock pipelines.

Qwen-Image's VAE works on 5-D latents (one frame for images), keeps per-channel `latents_mean`/`latents_std` in its
config and has no `scaling_factor`; the pipelines divide by the reciprocal of the std (`x / (1 / std) + mean`) and pack
2x2. Tiny components, non-trivial statistics, float32 on CPU: bitwise.
"""

import inspect

import numpy as np
import pytest
import torch
from _compare import assert_images_equal
from diffusers import QwenImageEditPipeline, QwenImageImg2ImgPipeline, QwenImagePipeline
from fixtures import generator, make_pil_images, qwenimage_components, qwenimage_prompt_embeds

from diffusers_scaled import (
    PackedLatentsMixin,
    ScaledQwenImageEditPipeline,
    ScaledQwenImageImg2ImgPipeline,
    ScaledQwenImagePipeline,
)


HEIGHT, WIDTH = 32, 48  # not square, so that a height/width mix-up fails


def make(pipeline_class, **kwargs):
    pipe = pipeline_class(**qwenimage_components(**kwargs))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def pipe():
    return make(ScaledQwenImagePipeline)


@pytest.fixture(scope="module")
def img2img():
    return make(ScaledQwenImageImg2ImgPipeline)


def generate(pipe, output_type, seed=0):
    inputs = {"num_inference_steps": 2, "height": HEIGHT, "width": WIDTH, "true_cfg_scale": 1.0}
    return pipe(**qwenimage_prompt_embeds(), generator=generator(seed), output_type=output_type, **inputs).images


def test_statistics_are_not_trivial(pipe):
    assert pipe.vae.config.latents_mean != [0.0] * 4 and pipe.vae.config.latents_std != [1.0] * 4
    assert issubclass(ScaledQwenImagePipeline, PackedLatentsMixin)


@pytest.mark.parametrize("output_type", ["np", "pt"])
def test_decode_packed_latents_equals_pipeline_output(pipe, output_type):
    latents = generate(pipe, "latent")
    assert latents.ndim == 3  # packed: (batch, patches, channels * 4)
    expected = generate(pipe, output_type)
    with torch.no_grad():
        images = pipe.decode_latents(latents, height=HEIGHT, width=WIDTH, output_type=output_type)
    assert_images_equal(images, expected)


def test_decode_unpacked_latents_equals_pipeline_output(pipe):
    latents = QwenImagePipeline._unpack_latents(generate(pipe, "latent"), HEIGHT, WIDTH, pipe.vae_scale_factor)
    assert latents.shape == (1, 4, 1, HEIGHT // 4, WIDTH // 4)
    with torch.no_grad():
        assert np.array_equal(pipe.decode_latents(latents), generate(pipe, "np"))


def test_scaled_pipeline_generates_like_stock(pipe):
    stock = QwenImagePipeline(**pipe.components)
    stock.set_progress_bar_config(disable=True)
    assert np.array_equal(generate(pipe, "np", seed=3), generate(stock, "np", seed=3))


@pytest.mark.parametrize("per_image_generators", [False, True])
def test_encode_latents_equals_img2img_encoding(img2img, per_image_generators):
    # The stock img2img pipeline encodes `image`, then draws noise from the same generator. Given latents instead (it
    # passes `latent_channels`-channel tensors through), with the generator our encoding advanced, it must reproduce
    # its run from pixels.
    stock = QwenImageImg2ImgPipeline(**img2img.components)
    stock.set_progress_bar_config(disable=True)
    images = make_pil_images(2, (WIDTH, HEIGHT))
    inputs = {"num_inference_steps": 4, "strength": 0.5, "height": HEIGHT, "width": WIDTH, "true_cfg_scale": 1.0}

    def gen():
        return [generator(0), generator(1)] if per_image_generators else generator(0)

    embeds = qwenimage_prompt_embeds(2)
    expected = stock(image=images, generator=gen(), output_type="np", **embeds, **inputs).images
    g = gen()
    with torch.no_grad():
        latents = img2img.encode_latents(images, generator=g)
    assert latents.shape == (2, 4, 1, HEIGHT // 4, WIDTH // 4)  # the VAE's 5-D form, one frame
    result = stock(image=latents[:, :, 0], generator=g, output_type="np", **embeds, **inputs).images
    assert np.array_equal(result, expected)


def test_encode_packed_is_the_pipeline_packing(img2img):
    images = make_pil_images(2, (WIDTH, HEIGHT))
    with torch.no_grad():
        unpacked = img2img.encode_latents(images, sample_mode="argmax")
        packed = img2img.encode_latents(images, sample_mode="argmax", packed=True)
    h, w = HEIGHT // 4, WIDTH // 4
    assert torch.equal(packed, QwenImageImg2ImgPipeline._pack_latents(unpacked.transpose(1, 2), 2, 4, h, w))


def test_edit_encode_equals_the_stock_edit_encoding():
    # The edit pipeline resizes its condition image to about 1024x1024 pixels before encoding, too large for the
    # suite; its encoding from the preprocessed pixels is the stock `_encode_vae_image` (mode of the posterior,
    # `(z - mean) / std`), compared here on small pixels.
    edit = make(ScaledQwenImageEditPipeline, edit=True)
    images = make_pil_images(2, (WIDTH, HEIGHT))
    pixels = edit.image_processor.preprocess(images, HEIGHT, WIDTH).unsqueeze(2)
    with torch.no_grad():
        expected = edit._encode_vae_image(pixels, generator=generator(0))
        latents = edit.encode_latents(images, height=HEIGHT, width=WIDTH)  # argmax: the edit pipeline's default
        components = {k: v for k, v in edit.components.items() if k != "processor"}
        img2img_form = ScaledQwenImageImg2ImgPipeline(**components).encode_latents(images, sample_mode="argmax")
    assert torch.equal(latents, expected)
    assert not torch.equal(latents, img2img_form)  # multiplying by 1 / std rounds differently: the test can fail


def _decode_block(pipeline_class):
    source = inspect.getsource(pipeline_class.__call__)
    return source[source.index('if output_type == "latent"') : source.index("self.maybe_free_model_hooks()")]


def test_edit_decodes_with_the_text_to_image_code():
    # The edit pipeline's own decode is the text-to-image pipeline's, line for line (its __call__ needs a ~1024x1024
    # condition image, too large for the suite); the text-to-image decode is checked bitwise above.
    assert _decode_block(QwenImageEditPipeline) == _decode_block(QwenImagePipeline)
    assert ScaledQwenImageEditPipeline.latent_format.layout is ScaledQwenImagePipeline.latent_format.layout
