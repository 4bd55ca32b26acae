"""The video pipelines on the Stable Diffusion VAE (`formats.sd_video`: AnimateDiff and its variants, ModelScope
text-to-video / video-to-video, PIA, I2VGen-XL, Stable Video Diffusion) against their stock `__call__`.

Their `__call__` decodes through their own deprecated `self.decode_latents(...)`, each with its own signature
(`(latents)`, `(latents, decode_chunk_size)`, `(latents, num_frames, decode_chunk_size)`): the scaled class must leave
those calls alone, so its own generation equals the stock one bitwise. `decode_latents` fed what the stock pipeline
returns with `output_type="latent"` gives its `.frames` bitwise, with the stock `decode_chunk_size` by default or the
one given (Stable Video Diffusion's temporal decoder mixes the frames of a chunk). The video- and image-conditioned
pipelines' encoding equals their stock one (`prepare_latents`, `prepare_masked_condition`, `prepare_image_latents`).

Tiny components, 3 frames of 16 x 24, 2 steps, float32 on CPU: bitwise.
"""

import functools
import inspect

import numpy as np
import pytest
import torch
from _compare import assert_same_frames
from diffusers.utils.torch_utils import randn_tensor
from fixtures import (
    PROMPT,
    animatediff_components,
    animatediff_sdxl_components,
    diffusers_class,
    generator,
    i2vgen_xl_components,
    make_pil_images,
    make_pipeline,
    svd_components,
    text_to_video_sd_components,
)

from diffusers_scaled import scaled
from diffusers_scaled.formats import _table, sd_video


HEIGHT, WIDTH, FRAMES = 16, 24, 3  # not square, so that a height/width mix-up fails
VIDEO = make_pil_images(FRAMES, (WIDTH, HEIGHT), seed=4)
IMAGE = VIDEO[0]
V2V = {"video": VIDEO, "strength": 0.75}  # of 2 steps, 1 runs


def with_pag_layers():
    return {**animatediff_components(), "pag_applied_layers": ["down_blocks.1"]}


# pipeline class name -> (components factory, call inputs beyond prompt/size/frames/steps, its format)
CASES = {
    "AnimateDiffPipeline": (animatediff_components, {}, sd_video.SD_VIDEO),
    "AnimateDiffVideoToVideoPipeline": (animatediff_components, V2V, sd_video.SD_VIDEO),
    "AnimateDiffControlNetPipeline": (
        functools.partial(animatediff_components, "controlnet"),
        {"conditioning_frames": VIDEO},
        sd_video.SD_VIDEO,
    ),
    "AnimateDiffVideoToVideoControlNetPipeline": (
        functools.partial(animatediff_components, "controlnet"),
        {**V2V, "conditioning_frames": VIDEO},
        sd_video.SD_VIDEO,
    ),
    "AnimateDiffSparseControlNetPipeline": (
        functools.partial(animatediff_components, "sparse"),
        {"conditioning_frames": [IMAGE], "controlnet_frame_indices": [0]},
        sd_video.SD_VIDEO,
    ),
    "AnimateDiffPAGPipeline": (with_pag_layers, {"pag_scale": 3.0}, sd_video.SD_VIDEO),
    "AnimateDiffSDXLPipeline": (animatediff_sdxl_components, {}, sd_video.SD_VIDEO),
    "TextToVideoSDPipeline": (text_to_video_sd_components, {}, sd_video.SD_VIDEO_FRAMES_ENCODED_TOGETHER),
    "VideoToVideoSDPipeline": (text_to_video_sd_components, V2V, sd_video.SD_VIDEO_FRAMES_ENCODED_TOGETHER),
    "PIAPipeline": (
        functools.partial(animatediff_components, unet_in_channels=9),
        {"image": IMAGE},
        sd_video.SD_VIDEO_IMAGE,
    ),
    # `clip_skip=None`: its default (1) reads `text_encoder.text_model`, which transformers 5's CLIPTextModel lacks.
    "I2VGenXLPipeline": (i2vgen_xl_components, {"image": IMAGE, "clip_skip": None}, sd_video.SD_VIDEO_IMAGE),
    "StableVideoDiffusionPipeline": (
        svd_components,
        {"image": IMAGE, "prompt": None, "max_guidance_scale": 2.5},
        sd_video.STABLE_VIDEO_DIFFUSION,
    ),
}


@functools.cache
def pipelines(name):
    """The stock pipeline and its scaled class on the same components, built once per test session."""
    stock_cls = diffusers_class(name)
    # Each on components of its own: `AnimateDiffSDXLPipeline` changes the components it is built from, so that a
    # second pipeline built on the same ones generates differently.
    factory = CASES[name][0]
    return make_pipeline(stock_cls, factory()), make_pipeline(scaled(stock_cls), factory())


def generate(pipe, name, output_type, **overrides):
    inputs = {"prompt": PROMPT, "num_inference_steps": 2, "height": HEIGHT, "width": WIDTH, "num_frames": FRAMES}
    inputs.update(CASES[name][1], **overrides)
    accepted = inspect.signature(type(pipe).__call__).parameters
    inputs = {k: v for k, v in inputs.items() if k in accepted and (v is not None or k == "clip_skip")}
    torch.manual_seed(0)  # I2VGen-XL encodes its condition image with the global generator
    return pipe(**inputs, generator=generator(0), output_type=output_type).frames


@functools.cache
def stock_latents(name):
    """What the stock pipeline returns with `output_type="latent"` (computed once)."""
    return generate(pipelines(name)[0], name, "latent")


@pytest.mark.parametrize("name", sorted(CASES))
def test_generation_and_decode_equal_stock(name):
    stock, pipe = pipelines(name)
    assert pipe.latent_format is _table.PROVEN[name][0] is CASES[name][2]
    expected = generate(stock, name, "np")
    assert expected.shape == (1, FRAMES, HEIGHT, WIDTH, 3) and expected.std() > 0.05
    # The scaled class's own `__call__` reaches the stock `self.decode_latents(...)`, whatever its signature.
    assert np.array_equal(generate(pipe, name, "np"), expected)
    latents = stock_latents(name)
    with torch.no_grad():
        assert_same_frames(pipe.decode_latents(latents, output_type="np"), expected, "np")


@pytest.mark.parametrize("output_type", ["pt", "pil"])
def test_decode_output_types_equal_stock_frames(output_type):
    name = "AnimateDiffPipeline"  # the other pipelines share `video_processor.postprocess_video`
    stock, pipe = pipelines(name)
    with torch.no_grad():
        frames = pipe.decode_latents(stock_latents(name), output_type=output_type)
    assert_same_frames(frames, generate(stock, name, output_type), output_type)


def test_svd_decode_chunk_size_equals_stock_call():
    # Its temporal decoder mixes the frames of each chunk: a chunk size other than the default (all frames) changes
    # the video, and `decode_latents` takes the call's.
    name = "StableVideoDiffusionPipeline"
    stock, pipe = pipelines(name)
    latents = stock_latents(name)
    assert latents.shape == (1, FRAMES, 4, HEIGHT // 2, WIDTH // 2)  # frames before channels
    expected = generate(stock, name, "np", decode_chunk_size=2)
    with torch.no_grad():
        frames = pipe.decode_latents(latents, decode_chunk_size=2)
        assert np.array_equal(frames, expected)
        assert not np.allclose(pipe.decode_latents(latents), expected)


def test_decode_rejects_a_bad_chunk_size():
    _, pipe = pipelines("AnimateDiffPipeline")
    with pytest.raises(ValueError, match="decode_chunk_size"):
        pipe.decode_latents(stock_latents("AnimateDiffPipeline"), decode_chunk_size=0)


def v2v_pixels(stock):
    return stock.video_processor.preprocess_video(VIDEO, height=HEIGHT, width=WIDTH)  # (batch, 3, frames, H, W)


def test_animatediff_v2v_encode_equals_stock_prepare_latents():
    # The stock `prepare_latents` encodes each video, scales it and adds noise from the same generator: from our latents
    # and the generator our encoding advanced, the same noise gives the same noisy latents.
    name = "AnimateDiffVideoToVideoPipeline"
    stock, pipe = pipelines(name)
    timestep = torch.tensor([500])
    video = v2v_pixels(stock).permute(0, 2, 1, 3, 4)  # (batch, frames, 3, H, W), as its `__call__` passes it
    cpu = torch.device("cpu")
    with torch.no_grad():
        expected = stock.prepare_latents(video, HEIGHT, WIDTH, 4, 1, timestep, torch.float32, cpu, generator(0))
        g = generator(0)
        latents = pipe.encode_latents(VIDEO, generator=g)
    assert latents.shape == (1, 4, FRAMES, HEIGHT // 2, WIDTH // 2) and latents.std() > 0.1
    frames_first = latents.permute(0, 2, 1, 3, 4)
    noise = randn_tensor(frames_first.shape, generator=g, dtype=torch.float32)
    noisy = stock.scheduler.add_noise(frames_first, noise, timestep).permute(0, 2, 1, 3, 4)
    assert torch.equal(noisy, expected)


def test_video_to_video_sd_encode_equals_stock_prepare_latents():
    # Its `prepare_latents` passes latent-channel videos through: from our latents and the generator our encoding
    # advanced, it returns the noisy latents it returns from pixels.
    name = "VideoToVideoSDPipeline"
    stock, pipe = pipelines(name)
    timestep = torch.tensor([500])
    cpu = torch.device("cpu")
    with torch.no_grad():
        expected = stock.prepare_latents(v2v_pixels(stock), timestep, 1, torch.float32, cpu, generator(0))
        g = generator(0)
        latents = pipe.encode_latents(VIDEO, generator=g)
        assert latents.std() > 0.1
        assert torch.equal(stock.prepare_latents(latents, timestep, 1, torch.float32, cpu, g), expected)
    with pytest.raises(ValueError, match="one `generator`"):
        pipe.encode_latents([VIDEO, VIDEO], generator=[generator(0), generator(1)])


def test_pia_encode_equals_stock_masked_condition():
    # PIA conditions every frame on the scaled latents of its image (`prepare_masked_condition`).
    stock, pipe = pipelines("PIAPipeline")
    stock._guidance_scale = 1.0  # what its `__call__` sets first; without guidance the condition is not doubled
    with torch.no_grad():
        _, condition = stock.prepare_masked_condition(
            IMAGE, 1, 4, FRAMES, HEIGHT, WIDTH, torch.float32, torch.device("cpu"), generator(0)
        )
        latents = pipe.encode_latents(IMAGE, generator=generator(0))
    assert latents.shape == (1, 4, 1, HEIGHT // 2, WIDTH // 2) and latents.std() > 0.1
    assert torch.equal(latents.expand_as(condition), condition)


def test_i2vgen_xl_encode_equals_stock_image_latents():
    # I2VGen-XL samples its condition's posterior with the global generator; its first latent frame is the scaled
    # image latents (the frames after it are position masks).
    stock, pipe = pipelines("I2VGenXLPipeline")
    stock._guidance_scale = 1.0  # what its `__call__` sets first; without guidance the condition is not doubled
    pixels = stock.video_processor.preprocess(IMAGE)
    with torch.no_grad():
        torch.manual_seed(0)
        expected = stock.prepare_image_latents(pixels, torch.device("cpu"), FRAMES, 1)
        torch.manual_seed(0)
        latents = pipe.encode_latents(IMAGE)
    assert latents.std() > 0.1
    assert torch.equal(latents, expected[:, :, :1])
