"""The uint8 fast path of pre/post-processing against `VaeImageProcessor` itself: bitwise, layout included."""

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers.image_processor import VaeImageProcessor
from fixtures import make_pil_images

from diffusers_scaled import _image_io


CPU = torch.device("cpu")


class CustomProcessor(VaeImageProcessor):
    """A subclass may change any step: it must take its own path."""

    def postprocess(self, image, output_type="pil", do_denormalize=None):
        return "custom"


@pytest.mark.parametrize(
    "sizes, height, width",
    [
        ([(32, 32)], None, None),
        ([(70, 45)] * 3, None, None),  # rounded down to multiples of 8
        ([(64, 48), (40, 56)], None, None),  # mixed sizes: resized to the first image's size
        ([(64, 48)], 32, 40),
    ],
)
def test_preprocess_pil_equals_processor(sizes, height, width):
    processor = VaeImageProcessor(vae_scale_factor=8)
    images = [make_pil_images(1, size, seed=i)[0] for i, size in enumerate(sizes)]
    expected = processor.preprocess(images, height=height, width=width)
    ours = _image_io.preprocess(processor, images, height, width, CPU)
    assert ours.dtype == expected.dtype and ours.shape == expected.shape
    assert torch.equal(ours, expected)
    assert ours.stride() == expected.stride()  # same memory layout, so convolutions pick the same algorithm


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "I;16"])
def test_preprocess_other_modes_take_processor_path(mode):
    processor = VaeImageProcessor(vae_scale_factor=8)
    image = make_pil_images(1, (32, 32))[0].convert(mode) if mode != "I;16" else PIL.Image.new("I;16", (32, 32), 300)
    assert _image_io._pil_list(image) is None
    assert torch.equal(_image_io.preprocess(processor, image, None, None, CPU), processor.preprocess(image))


def test_preprocess_non_default_config_takes_processor_path():
    processor = VaeImageProcessor(vae_scale_factor=8, do_convert_grayscale=True)
    image = make_pil_images(1, (32, 32))[0]
    assert not _image_io._is_plain_processor(processor)
    assert torch.equal(_image_io.preprocess(processor, image, None, None, CPU), processor.preprocess(image))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("channels", [3, 1])
def test_postprocess_pil_equals_processor(dtype, channels):
    processor = VaeImageProcessor(vae_scale_factor=8)
    # decoder outputs overshoot [-1, 1]: clamping and rounding ties are exercised
    image = (torch.randn(2, channels, 24, 16, generator=torch.Generator().manual_seed(0)) * 0.8).to(dtype)
    image[0, 0, 0, :4] = torch.tensor([-1.0, 1.0, 1 / 255 - 1, 0.0])
    expected = processor.postprocess(image, output_type="pil")
    ours = _image_io.postprocess(processor, image, "pil")
    assert [i.mode for i in ours] == [i.mode for i in expected]
    for a, b in zip(ours, expected):
        assert np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("output_type", ["np", "pt"])
def test_postprocess_other_outputs_are_the_processors(output_type):
    processor = VaeImageProcessor(vae_scale_factor=8)
    image = torch.randn(1, 3, 8, 8)
    expected = processor.postprocess(image, output_type=output_type)
    ours = _image_io.postprocess(processor, image, output_type)
    assert type(ours) is type(expected) and (ours == expected).all()


def test_subclassed_processor_takes_its_own_path():
    assert _image_io.postprocess(CustomProcessor(), torch.zeros(1, 3, 8, 8), "pil") == "custom"
