"""Sampling in `encode_latents`: `sample_mode`, one generator or one per image, determinism."""

import pytest
import torch
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents
from fixtures import generator, make_pil_images, sd_components

from diffusers_scaled import ScaledStableDiffusionImg2ImgPipeline


SIZE = 32


@pytest.fixture(scope="module")
def pipe():
    pipe = ScaledStableDiffusionImg2ImgPipeline(**sd_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def images():
    return make_pil_images(3, (SIZE, SIZE))


def encode(pipe, images, **kwargs):
    with torch.no_grad():
        return pipe.encode_latents(images, **kwargs)


def test_argmax_is_the_posterior_mode_and_needs_no_generator(pipe, images):
    pixels = pipe.image_processor.preprocess(images)
    with torch.no_grad():
        mode = retrieve_latents(pipe.vae.encode(pixels), sample_mode="argmax")
    assert torch.equal(encode(pipe, images, sample_mode="argmax"), pipe.latent_scaling.scale(mode))
    assert torch.equal(
        encode(pipe, images, sample_mode="argmax", generator=generator(1)), pipe.latent_scaling.scale(mode)
    )


def test_same_seed_same_latents_other_seed_other_latents(pipe, images):
    first = encode(pipe, images, generator=generator(7))
    assert torch.equal(first, encode(pipe, images, generator=generator(7)))
    assert not torch.equal(first, encode(pipe, images, generator=generator(8)))
    assert not torch.equal(first, encode(pipe, images, sample_mode="argmax"))


def test_one_generator_per_image_encodes_each_image_on_its_own(pipe, images):
    together = encode(pipe, images, generator=[generator(i) for i in range(3)])
    alone = [encode(pipe, [image], generator=generator(i)) for i, image in enumerate(images)]
    assert torch.equal(together, torch.cat(alone))


@pytest.mark.parametrize("count", [1, 2, 4])
def test_generator_list_of_the_wrong_length_is_a_clear_error(pipe, images, count):
    with pytest.raises(ValueError, match=rf"`generator` is a list of {count} generators, but the batch has 3 images"):
        encode(pipe, images, generator=[generator(i) for i in range(count)])


def test_unknown_sample_mode_is_a_clear_error(pipe, images):
    with pytest.raises(ValueError, match="`sample_mode` must be one of 'sample', 'argmax'; got 'mode'"):
        encode(pipe, images, sample_mode="mode")
