"""Every bad input to `encode_latents` / `decode_latents` gets a clear error at the call; accepted odd inputs follow the
documented rules.

`ERROR_CASES` is the table of `docs/reliability.md`: each row's example code runs here and must raise the stated
exception with a message that names the argument, what was expected and what was given; the page's table is rendered
from these cases, with the messages they really produce, and `test_docs_table_is_the_cases` fails when the two drift
apart. Regenerate the page's table with `PYTHONPATH=. python tests/test_validation.py`.
"""

from __future__ import annotations

import copy
import os
import re
import warnings
from dataclasses import dataclass

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers.image_processor import VaeImageProcessor
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents
from fixtures import generator, make_pil_images, sd_components

from diffusers_scaled import ScaledStableDiffusionImg2ImgPipeline
from diffusers_scaled._image_io import PIL_MODES_CONVERTED, PIL_MODES_WITH_ALPHA
from diffusers_scaled._validation import (
    IMAGE_RANGE_SLACK,
    check_latents,
    deferred_finite_check,
    start_finite_check,
)
from diffusers_scaled.formats._layouts import check_packed_latents_size


DOCS = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "reliability.md")
TABLE_START, TABLE_END = "<!-- errors-table:start -->", "<!-- errors-table:end -->"


@dataclass(frozen=True)
class Case:
    bad_input: str  # what the user did, in words
    code: str  # the example, run with the names of `namespace()`; shown verbatim in the docs
    error: type
    says: tuple[str, ...]  # the argument (in backticks), the expectation and what was given, as the message words them


ERROR_CASES = [
    # decode_latents ------------------------------------------------------------------------------------------------
    Case("latents as a numpy array", "pipe.decode_latents(latents.numpy())", TypeError, ("`latents`", "torch.Tensor", "ndarray")),
    Case("latents as a list of tensors", "pipe.decode_latents([latents, latents])", TypeError, ("`latents`", "torch.Tensor", "list", "torch.cat")),
    Case("empty list of latents", "pipe.decode_latents([])", TypeError, ("`latents`", "torch.Tensor", "list")),
    Case("latents without a batch dimension", "pipe.decode_latents(latents[0])", ValueError, ("`latents`", "4 dimensions", "(4, 16, 16)", "latents[None]")),
    Case("latents with an extra dimension", "pipe.decode_latents(latents[None])", ValueError, ("`latents`", "4 dimensions", "(1, 1, 4, 16, 16)")),
    Case("empty latent batch", "pipe.decode_latents(latents[:0])", ValueError, ("`latents`", "at least one", "(0, 4, 16, 16)")),
    Case("latents with zero height", "pipe.decode_latents(latents[:, :, :0])", ValueError, ("`latents`", "non-zero height", "(1, 4, 0, 16)")),
    Case("integer latents", "pipe.decode_latents(latents.long())", TypeError, ("`latents`", "floating-point", "torch.int64")),
    Case("bool latents", "pipe.decode_latents(latents > 0)", TypeError, ("`latents`", "floating-point", "torch.bool")),
    Case("an image passed to decode", "pipe.decode_latents(pixels)", ValueError, ("`latents`", "4 channels", "(1, 3, 32, 32)", "call `encode_latents`")),
    Case("latents with the wrong channel count", "pipe.decode_latents(latents[:, :2])", ValueError, ("`latents`", "4 channels", "(1, 2, 16, 16)")),
    Case("NaN in latents", "latents[0, 0, 0, 0] = float('nan'); pipe.decode_latents(latents)", ValueError, ("`latents`", "finite", "1 NaN")),
    Case("inf in latents", "latents[0, 1, 2, 3] = float('inf'); pipe.decode_latents(latents)", ValueError, ("`latents`", "finite", "1 infinite")),
    Case("unknown output_type", "pipe.decode_latents(latents, output_type='latent')", ValueError, ("`output_type`", "'pil', 'np', 'pt'", "'latent'")),
    Case("VAE config without scaling_factor", "pipe.vae.register_to_config(scaling_factor=None); pipe.decode_latents(latents)", ValueError, ("`scaling_factor`", "vae.register_to_config(scaling_factor=...)")),
    Case("per-channel statistics for another channel count", "pipe.vae.register_to_config(latents_mean=[0.0] * 3, latents_std=[1.0] * 3); pipe.decode_latents(latents)", ValueError, ("`latents`", "3 channels on dimension 1", "(1, 4, 16, 16)")),
    Case("packed latents that do not fit height/width", "check_packed_latents_size(torch.zeros(1, 16, 16), height=32, width=32, vae_scale_factor=2)", ValueError, ("`latents`", "(1, 64, 16)", "(1, 16, 16)", "height=32, width=32")),
    Case("unpacked latents that do not fit height/width", "check_packed_latents_size(torch.zeros(1, 4, 16, 12), height=32, width=32, vae_scale_factor=2)", ValueError, ("`latents`", "(1, 4, 16, 16)", "(1, 4, 16, 12)")),
    Case("packed latents without a usable height", "check_packed_latents_size(torch.zeros(1, 64, 16), height=None, width=32, vae_scale_factor=2)", ValueError, ("`height`", "positive int", "None")),
    # encode_latents ------------------------------------------------------------------------------------------------
    Case("unknown sample_mode", "pipe.encode_latents(image, sample_mode='mode')", ValueError, ("`sample_mode`", "'sample', 'argmax'", "'mode'")),
    Case("latents passed to encode", "pipe.encode_latents(latents)", ValueError, ("`image`", "`latent_channels`", "(1, 4, 16, 16)", "call `decode_latents`")),
    Case("empty list", "pipe.encode_latents([])", ValueError, ("`image`", "at least one image", "empty list")),
    Case("empty tensor batch", "pipe.encode_latents(pixels[:0])", ValueError, ("`image`", "not be empty", "(0, 3, 32, 32)")),
    Case("2-D tensor", "pipe.encode_latents(pixels[0, 0])", ValueError, ("`image`", "(C, H, W) or (B, C, H, W)", "(32, 32)")),
    Case("5-D tensor", "pipe.encode_latents(pixels[None])", ValueError, ("`image`", "(C, H, W) or (B, C, H, W)", "(1, 1, 3, 32, 32)")),
    Case("channels-last tensor", "pipe.encode_latents(pixels.permute(0, 2, 3, 1))", ValueError, ("`image`", "3 channels", "(1, 32, 32, 3)", "movedim")),
    Case("channels-first numpy array", "pipe.encode_latents(array.transpose(2, 0, 1))", ValueError, ("`image`", "3 channels", "(3, 32, 32)", "moveaxis")),
    Case("grayscale numpy array", "pipe.encode_latents(array[..., :1])", ValueError, ("`image`", "3 channels", "(32, 32, 1)", "Grayscale")),
    Case("uint8 tensor", "pipe.encode_latents((pixels * 255).to(torch.uint8))", TypeError, ("`image`", "floating point", "torch.uint8", "/ 255")),
    Case("bool tensor", "pipe.encode_latents(pixels > 0.5)", TypeError, ("`image`", "floating point", "torch.bool")),
    Case("uint8 numpy array", "pipe.encode_latents(np.asarray(image))", TypeError, ("`image`", "floating point", "uint8", "astype")),
    Case("NaN in an image tensor", "pixels[0, 0, 0, 0] = float('nan'); pipe.encode_latents(pixels)", ValueError, ("`image`", "finite", "1 NaN")),
    Case("NaN in one tensor of a list", "bad = pixels[0].clone(); bad[1, 2, 3] = float('nan'); pipe.encode_latents([pixels[0], bad])", ValueError, ("`image`", "finite", "1 NaN", "(3, 32, 32)")),
    Case("inf in a numpy image", "array[0, 0, 0] = np.inf; pipe.encode_latents(array)", ValueError, ("`image`", "finite", "1 infinite")),
    Case("0-255 floats in a tensor", "pipe.encode_latents(pixels * 255)", ValueError, ("`image`", "[0, 1]", "divide by 255")),
    Case("0-255 floats in a numpy array", "pipe.encode_latents(np.asarray(image, dtype=np.float32))", ValueError, ("`image`", "[0, 1]", "divide by 255")),
    Case("transparent RGBA image", "pipe.encode_latents(PIL.Image.new('RGBA', (32, 32), (255, 0, 0, 0)))", ValueError, ("`image`", "mode 'RGBA'", "alpha down to 0", "alpha_composite")),
    Case("transparent LA image", "pipe.encode_latents(PIL.Image.new('LA', (32, 32), (128, 10)))", ValueError, ("`image`", "mode 'LA'", "alpha down to 10")),
    Case("palette image with a transparent colour", "p = image.convert('P'); p.info['transparency'] = p.getpixel((0, 0)); pipe.encode_latents(p)", ValueError, ("`image`", "mode 'P'", "transparent")),
    Case("16-bit grayscale image", "pipe.encode_latents(PIL.Image.new('I;16', (32, 32), 4095))", ValueError, ("`image`", "mode 'I;16'", "65535")),
    Case("32-bit float image", "pipe.encode_latents(PIL.Image.new('F', (32, 32), 0.5))", ValueError, ("`image`", "mode 'F'", "[0, 1]")),
    Case("other PIL mode", "pipe.encode_latents(image.convert('HSV'))", ValueError, ("`image`", "mode 'HSV'", "'RGB'")),
    Case("PIL images of mixed sizes", "pipe.encode_latents([image, image.resize((48, 32))])", ValueError, ("`image`", "different sizes", "32x32, 48x32", "`height` and `width`")),
    Case("numpy arrays of mixed shapes", "pipe.encode_latents([array, array[:16]])", ValueError, ("`image`", "same shape", "(32, 32, 3), (16, 32, 3)")),
    Case("tensors of mixed shapes", "pipe.encode_latents([pixels[0], pixels[0, :, :16]])", ValueError, ("`image`", "same shape", "(3, 32, 32), (3, 16, 32)")),
    Case("a list mixing kinds of image", "pipe.encode_latents([image, pixels[0]])", TypeError, ("`image`", "one kind", "PIL.Image.Image, torch.Tensor")),
    Case("a tuple of images", "pipe.encode_latents((image, image))", TypeError, ("`image`", "a list", "tuple")),
    Case("a file name", "pipe.encode_latents('photo.png')", TypeError, ("`image`", "PIL.Image.Image", "str")),
    Case("an image smaller than the scale factor", "pipe.encode_latents(image.resize((1, 32)))", ValueError, ("`image`", "scale factor 2", "1 pixels in width")),
    Case("height that is not a usable int", "pipe.encode_latents(image, height=1)", ValueError, ("`height`", "at least 2", "1")),
    Case("generator list of the wrong length", "pipe.encode_latents([image, image], generator=[torch.Generator()])", ValueError, ("`generator`", "one generator per image", "list of 1", "2 images")),
    Case("a seed instead of a generator", "pipe.encode_latents(image, generator=0)", TypeError, ("`generator`", "torch.Generator", "int")),
]  # fmt: skip


@pytest.fixture(scope="module")
def base_pipe():
    pipe = ScaledStableDiffusionImg2ImgPipeline(**sd_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def fresh(pipe):
    """The pipeline with its own copy of the VAE, so a case may change the VAE's config."""
    return type(pipe)(**{**pipe.components, "vae": copy.deepcopy(pipe.vae)})


def namespace(pipe) -> dict:
    """The names the examples use: a tiny SD pipeline (scale factor 2, 4 latent channels) and valid inputs for it."""
    image = make_pil_images(1, (32, 32))[0]
    array = np.asarray(image, dtype=np.float32) / 255  # (H, W, C) in [0, 1]
    return {
        "pipe": fresh(pipe),
        "image": image,
        "array": array,
        "pixels": torch.from_numpy(array).permute(2, 0, 1)[None].clone(),  # (B, C, H, W) in [0, 1]
        "latents": torch.randn(1, 4, 16, 16, generator=generator(0)),
        "np": np,
        "torch": torch,
        "PIL": PIL,
        "check_packed_latents_size": check_packed_latents_size,
    }


def run_case(case: Case, pipe) -> BaseException:
    with pytest.raises(BaseException) as info, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        exec(case.code, namespace(pipe))
    return info.value


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c.bad_input for c in ERROR_CASES])
def test_bad_input_gets_a_clear_error(case, base_pipe):
    error = run_case(case, base_pipe)
    assert type(error) is case.error, f"{case.code} raised {type(error).__name__}: {error}"
    message = str(error)
    assert message.startswith(("`", "The VAE config")), message  # our message, not one from deep inside torch
    for words in case.says:
        assert words in message, f"{words!r} not in {message!r}"


def test_every_case_is_valid_once_the_mistake_is_undone(base_pipe):
    """The namespace's inputs themselves are fine: the errors come from each case's mistake, not from the set-up."""
    names = namespace(base_pipe)
    with torch.no_grad():
        assert names["pipe"].decode_latents(names["latents"]).shape == (1, 32, 32, 3)
        for image in (names["image"], names["array"], names["pixels"], [names["image"]] * 2):
            assert names["pipe"].encode_latents(image).shape[1:] == (4, 16, 16)
    check_packed_latents_size(torch.zeros(1, 64, 16), height=32, width=32, vae_scale_factor=2)
    check_packed_latents_size(torch.zeros(1, 4, 16, 16), height=32, width=32, vae_scale_factor=2)


# The page's table --------------------------------------------------------------------------------------------------


def render_table(pipe) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    rows = ["| bad input | example | error | message |", "| --- | --- | --- | --- |"]
    for case in ERROR_CASES:
        error = run_case(case, pipe)
        rows.append(f"| {case.bad_input} | `{cell(case.code)}` | `{type(error).__name__}` | {cell(str(error))} |")
    return "\n".join(rows)


def test_docs_table_is_the_cases(base_pipe):
    with open(DOCS, encoding="utf-8") as f:
        page = f.read()
    table = page.split(TABLE_START)[1].split(TABLE_END)[0].strip()
    assert table == render_table(base_pipe), (
        "docs/reliability.md is stale: run `PYTHONPATH=. python tests/test_validation.py`"
    )
    assert f"{len(ERROR_CASES)} kinds of bad input" in page
    assert f"{len(PIL_MODES_CONVERTED + PIL_MODES_WITH_ALPHA)} PIL modes converted" in page


# Accepted inputs and their rules ------------------------------------------------------------------------------------


def stock_encode(pipe, image, processor=None, **kwargs):
    """The stock path: `VaeImageProcessor.preprocess`, the VAE's mode, times the scaling factor."""
    processor = processor or pipe.image_processor
    pixels = processor.preprocess(image, **kwargs)
    return retrieve_latents(pipe.vae.encode(pixels), sample_mode="argmax") * pipe.vae.config.scaling_factor


def converting_processor(pipe):
    return VaeImageProcessor(vae_scale_factor=pipe.vae_scale_factor, do_convert_rgb=True)


def opaque(mode: str) -> PIL.Image.Image:
    image = make_pil_images(1, (32, 32), seed=3)[0]
    return image.convert("RGBA").convert(mode) if mode in PIL_MODES_WITH_ALPHA else image.convert(mode)


@pytest.mark.parametrize("mode", PIL_MODES_CONVERTED + PIL_MODES_WITH_ALPHA)
@torch.no_grad()
def test_pil_modes_converted_as_processor_with_convert_rgb(base_pipe, mode):
    # Opaque alpha and every converted mode: bitwise what `VaeImageProcessor(do_convert_rgb=True)` gives (no resize).
    image = opaque(mode)
    assert image.mode == mode
    expected = stock_encode(base_pipe, image, converting_processor(base_pipe))
    assert torch.equal(base_pipe.encode_latents(image, sample_mode="argmax"), expected)
    # ... where the stock default processor hands the VAE another channel count (an error deep in a convolution) or
    # other values (palette indices as grey levels, YCbCr as RGB).
    try:
        stock = stock_encode(base_pipe, image)
    except RuntimeError as error:
        assert "channels" in str(error)
    else:
        assert not torch.equal(stock, expected)


@pytest.mark.parametrize("mode", PIL_MODES_CONVERTED + PIL_MODES_WITH_ALPHA)
@torch.no_grad()
def test_pil_conversion_with_resize_equals_processor_with_convert_rgb(base_pipe, mode):
    # The processor's order, resize then convert (PIL resizes "P" and "1" with nearest neighbour, as the processor does).
    images = [opaque(mode).resize((37, 29)), make_pil_images(1, (30, 30))[0]]  # mixed modes and sizes
    expected = stock_encode(base_pipe, images, converting_processor(base_pipe), height=20, width=24)
    assert torch.equal(base_pipe.encode_latents(images, sample_mode="argmax", height=20, width=24), expected)
    single = opaque(mode).resize((37, 29))  # rounded down to a multiple of the scale factor: 36x28
    expected = stock_encode(base_pipe, single, converting_processor(base_pipe))
    assert torch.equal(base_pipe.encode_latents(single, sample_mode="argmax"), expected)


@torch.no_grad()
def test_converting_processor_config_is_left_to_the_processor(base_pipe):
    pipe = fresh(base_pipe)
    pipe.register_modules(image_processor=VaeImageProcessor(vae_scale_factor=2, do_convert_rgb=True))
    image = opaque("LA").copy()
    image.putpixel((0, 0), (3, 0))  # transparent, but this processor was configured to convert: its rule applies
    assert torch.equal(pipe.encode_latents(image, sample_mode="argmax"), stock_encode(pipe, image))


@torch.no_grad()
def test_mixed_pil_sizes_with_height_and_width_are_resized(base_pipe):
    images = [make_pil_images(1, (32, 32))[0], make_pil_images(1, (48, 40))[0]]
    ours = base_pipe.encode_latents(images, sample_mode="argmax", height=24, width=28)
    assert torch.equal(ours, stock_encode(base_pipe, images, height=24, width=28))


@pytest.mark.parametrize("low, high", [(-1.0, 1.0), (-IMAGE_RANGE_SLACK - 1, 1.0), (0.0, 1 + IMAGE_RANGE_SLACK)])
@torch.no_grad()
def test_value_range_accepted_as_processor(base_pipe, low, high):
    pixels = torch.linspace(low, high, 3 * 32 * 32).reshape(1, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the processor's [-1, 1] deprecation warning
        expected = stock_encode(base_pipe, pixels)
        assert torch.equal(base_pipe.encode_latents(pixels, sample_mode="argmax"), expected)


@torch.no_grad()
def test_value_range_bound_is_just_outside_the_slack(base_pipe):
    pixels = torch.full((1, 3, 32, 32), 0.5)
    pixels[0, 0, 0, 0] = 1 + IMAGE_RANGE_SLACK + 1e-3
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        base_pipe.encode_latents(pixels)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
@torch.no_grad()
def test_latents_of_another_dtype_are_cast_to_the_vae_dtype(base_pipe, dtype):
    # The rule: latents are moved to the VAE's execution device and cast to the dtype it computes in, before unscaling.
    latents = torch.randn(2, 4, 16, 16, generator=generator(1)).to(dtype)
    expected = base_pipe.decode_latents(latents.to(torch.float32), output_type="pt")
    assert torch.equal(base_pipe.decode_latents(latents, output_type="pt"), expected)


DEVICES = (
    ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) + (["mps"] if torch.backends.mps.is_available() else [])
)


@pytest.mark.parametrize("device", DEVICES)
@torch.no_grad()
def test_latents_on_another_device_are_moved_to_the_vae(base_pipe, device):
    latents = torch.randn(1, 4, 16, 16, generator=generator(2))
    expected = base_pipe.decode_latents(latents, output_type="pt")
    ours = base_pipe.decode_latents(latents.to(device), output_type="pt")
    assert ours.device == expected.device and torch.equal(ours, expected)


def test_generator_list_of_the_right_length_is_accepted(base_pipe):
    images = make_pil_images(2, (32, 32))
    with torch.no_grad():
        latents = base_pipe.encode_latents(images, generator=[generator(0), generator(1)])
        first = base_pipe.encode_latents(images[:1], generator=generator(0))
    assert torch.equal(latents[:1], first)


def test_inputs_are_never_modified(base_pipe):
    names = namespace(base_pipe)
    image, array, pixels, latents = names["image"], names["array"], names["pixels"], names["latents"]
    palette = image.convert("P")
    copies = [image.copy(), array.copy(), pixels.clone(), latents.clone(), palette.copy()]
    with torch.no_grad():
        for value in (image, array, pixels, [image, image], palette):
            base_pipe.encode_latents(value, height=24, width=24)
        for output_type in ("pil", "np", "pt"):
            base_pipe.decode_latents(latents, output_type=output_type)
    assert np.array_equal(np.asarray(image), np.asarray(copies[0])) and image.mode == "RGB"
    assert np.array_equal(array, copies[1]) and torch.equal(pixels, copies[2]) and torch.equal(latents, copies[3])
    assert palette.mode == "P" and np.array_equal(np.asarray(palette), np.asarray(copies[4]))


def test_transposed_array_gets_the_layout_error_whatever_the_scale_factor(base_pipe):
    # With a scale factor of 8, a channels-first (3, 64, 64) array is "3 pixels high" if read channels-last: the
    # layout error comes first, with its hint.
    pipe = fresh(base_pipe)
    pipe.register_modules(image_processor=VaeImageProcessor(vae_scale_factor=8))
    with pytest.raises(ValueError, match="looks channels-first"):
        pipe.encode_latents(np.zeros((3, 64, 64), dtype=np.float32))
    assert pipe.encode_latents(np.zeros((64, 64, 3), dtype=np.float32), height=np.int64(32)).shape == (1, 4, 16, 32)


def test_video_latents_rank():
    vae = type("Vae", (), {"config": type("Config", (), {"latent_channels": 4})()})()
    check_latents(torch.zeros(1, 4, 2, 8, 8), vae, ndim=5)
    with pytest.raises(
        ValueError, match=r"5 dimensions \(batch, channels, frames, height, width\); got shape \(1, 4, 8, 8\)"
    ):
        check_latents(torch.zeros(1, 4, 8, 8), vae, ndim=5)


# Finiteness checks without device syncs ------------------------------------------------------------------------------


def test_finite_check_on_cpu_is_immediate():
    assert start_finite_check("x", torch.ones(3), host_copy_follows=False)() is None
    with pytest.raises(ValueError, match="1 NaN"):
        start_finite_check("x", torch.tensor([0.0, float("nan")]), host_copy_follows=False)


def test_deferred_finite_check_raises_when_read():
    # The accelerator path: the flag is computed when the check is set up and read by the returned callable.
    tensor = torch.tensor([1.0, float("inf"), float("nan")])
    confirm = deferred_finite_check("latents", tensor)
    with pytest.raises(ValueError, match=r"`latents` must hold finite values only; got 1 NaN and 1 infinite"):
        confirm()
    assert deferred_finite_check("latents", torch.ones(2))() is None


if __name__ == "__main__":  # rewrite the docs table from the cases
    pipe = ScaledStableDiffusionImg2ImgPipeline(**sd_components())
    with open(DOCS, encoding="utf-8") as f:
        page = f.read()
    before, rest = page.split(TABLE_START)
    after = rest.split(TABLE_END)[1]
    page = f"{before}{TABLE_START}\n{render_table(pipe)}\n{TABLE_END}{after}"
    page = re.sub(r"\d+ kinds of bad input", f"{len(ERROR_CASES)} kinds of bad input", page)
    with open(DOCS, "w", encoding="utf-8") as f:
        f.write(page)
    print(f"wrote {len(ERROR_CASES)} rows to {os.path.normpath(DOCS)}")
