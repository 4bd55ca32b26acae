"""Wan 2.1 and 2.2 (`formats.video.WAN`, `WAN_I2V`) against the stock Wan pipelines' `__call__`.

Wan's VAE keeps per-channel `latents_mean`/`latents_std` in its config (non-trivial in the fixture); the pipelines
decode `latents / (1 / std) + mean` and encode the i2v condition `(z - mean) * (1 / std)`. All in float32 on CPU with
tiny components (prompt embeddings passed directly), where both paths run the same operations: bitwise.

The encode checks read what the stock `__call__` feeds its transformer (a forward pre-hook, torch's documented hook):
for i2v the condition channels of the first step's input; for video-to-video, with a scheduler whose `scale_noise` is
the identity, the clean video latents.
"""

import inspect

import diffusers
import numpy as np
import pytest
import torch
from _compare import assert_same_frames
from _video import first_transformer_input, run_with_first_input, stock_twin
from diffusers import (
    FlowMatchEulerDiscreteScheduler,
    WanImageToVideoPipeline,
    WanPipeline,
    WanVACEPipeline,
    WanVideoToVideoPipeline,
)
from fixtures import (
    anyflow_components,
    generator,
    lucy_edit_components,
    make_pil_images,
    video_prompt_embeds,
    wan22_components,
    wan_components,
    wan_vace_components,
)

from diffusers_scaled import ScaledWanImageToVideoPipeline, ScaledWanPipeline, scaled


HEIGHT, WIDTH, FRAMES = 16, 32, 5  # not square, so that a height/width mix-up fails; (5 - 1) % 4 == 0


class NoNoiseScheduler(FlowMatchEulerDiscreteScheduler):
    """`scale_noise` returns the clean sample: the video-to-video pipeline's transformer then sees its clean latents."""

    def scale_noise(self, sample, timestep, noise=None):
        return sample


def make(pipeline_class, wan_version="2.1", **kwargs):
    pipe = pipeline_class(**(wan22_components if wan_version == "2.2" else wan_components)(**kwargs))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, output_type, **inputs):
    inputs = {"height": HEIGHT, "width": WIDTH, "num_inference_steps": 2, **inputs}
    if "video" not in inputs:  # video-to-video takes its frame count from the video
        inputs.setdefault("num_frames", FRAMES)
    embeds = video_prompt_embeds(32)["prompt_embeds"]
    return pipe(prompt_embeds=embeds, guidance_scale=1.0, generator=generator(0), output_type=output_type, **inputs)


@pytest.fixture(scope="module")
def t2v():
    return make(ScaledWanPipeline)


@pytest.fixture(scope="module")
def i2v():
    return make(ScaledWanImageToVideoPipeline, image_to_video=True)


@pytest.fixture(scope="module")
def stock_t2v(t2v):
    """The stock pipeline's `.frames` for each `output_type`, one call each (same seed)."""
    stock = stock_twin(t2v, WanPipeline)
    return {output_type: generate(stock, output_type).frames for output_type in ("latent", "np", "pt", "pil")}


def test_scaled_gives_the_ready_classes():
    assert scaled(WanPipeline) is ScaledWanPipeline
    assert scaled(WanImageToVideoPipeline) is ScaledWanImageToVideoPipeline


@pytest.mark.parametrize("output_type", ["np", "pt", "pil"])
def test_decode_equals_stock_frames(t2v, stock_t2v, output_type):
    latents = stock_t2v["latent"]
    assert latents.shape == (1, 16, 2, HEIGHT // 8, WIDTH // 8)
    with torch.no_grad():
        frames = t2v.decode_latents(latents, output_type=output_type)
    assert_same_frames(frames, stock_t2v[output_type], output_type)


def test_scaled_class_generates_as_stock(t2v, stock_t2v):
    assert np.array_equal(generate(t2v, "np").frames, stock_t2v["np"])


def test_i2v_decode_equals_stock_frames(i2v):
    output_type = "np"  # the other forms share the post-processing checked above
    stock = stock_twin(i2v, WanImageToVideoPipeline)
    image = make_pil_images(1, (WIDTH, HEIGHT))[0]
    latents = generate(stock, "latent", image=image).frames
    expected = generate(stock, output_type, image=image).frames
    with torch.no_grad():
        frames = i2v.decode_latents(latents, output_type=output_type)
    assert_same_frames(frames, expected, output_type)


def test_i2v_encode_equals_stock_condition(i2v):
    stock = stock_twin(i2v, WanImageToVideoPipeline)
    image = make_pil_images(1, (WIDTH, HEIGHT), seed=3)[0]
    seen = first_transformer_input(stock, lambda: generate(stock, "latent", image=image))
    # The transformer's input: noise latents (16 channels), the frame mask (4), the condition latents (16).
    condition = seen[:, 16 + 4 :]
    with torch.no_grad():
        latents = i2v.encode_latents(image, height=HEIGHT, width=WIDTH, num_frames=FRAMES)
    assert latents.shape == (1, 16, 2, HEIGHT // 8, WIDTH // 8)
    assert torch.equal(latents, condition)


def test_i2v_encode_needs_num_frames(i2v):
    image = make_pil_images(1, (WIDTH, HEIGHT))[0]
    with pytest.raises(ValueError, match="num_frames"):
        i2v.encode_latents(image, height=HEIGHT, width=WIDTH)
    with pytest.raises(ValueError, match="num_frames"):
        i2v.encode_latents(image, height=HEIGHT, width=WIDTH, num_frames=6)


def test_last_image_only_where_the_condition_takes_one(i2v, t2v):
    image = make_pil_images(1, (WIDTH, HEIGHT))[0]
    with pytest.raises(ValueError, match="last_image"):
        t2v.encode_latents([image] * FRAMES, height=HEIGHT, width=WIDTH, last_image=image)
    with pytest.raises(TypeError, match="last_frame"):
        i2v.encode_latents(image, height=HEIGHT, width=WIDTH, num_frames=FRAMES, last_frame=image)


def test_video_encode_equals_stock_video_to_video_latents(t2v):
    stock = stock_twin(t2v, WanVideoToVideoPipeline)
    stock.scheduler = NoNoiseScheduler(shift=7.0)
    video = make_pil_images(FRAMES, (WIDTH, HEIGHT), seed=5)
    seen = first_transformer_input(stock, lambda: generate(stock, "latent", video=video, strength=0.5))
    with torch.no_grad():
        latents = t2v.encode_latents(video, height=HEIGHT, width=WIDTH)
    assert latents.shape == (1, 16, 2, HEIGHT // 8, WIDTH // 8)
    assert torch.equal(latents, seen)


# Wan 2.2 -------------------------------------------------------------------------------------------------------------
# TI2V-5B: a 48-channel VAE (16x spatial) and `expand_timesteps`, whose image-to-video condition is the image alone,
# blended into latent frame 0 of the transformer's input. A14B: two transformers (`boundary_ratio`), Wan 2.1's VAE,
# image-to-video without an image encoder.
WAN22 = {"TI2V-5B": (32, 64, {}), "A14B": (16, 32, {"two_stage": True})}  # height, width, fixture options


def wan22(variant, pipeline_class):
    height, width, options = WAN22[variant]
    image_to_video = pipeline_class is WanImageToVideoPipeline
    pipe = make(scaled(pipeline_class), image_to_video=image_to_video, **options, wan_version="2.2")
    return pipe, stock_twin(pipe, pipeline_class), {"height": height, "width": width}


@pytest.mark.parametrize("variant", sorted(WAN22))
@pytest.mark.parametrize("pipeline_class", [WanPipeline, WanImageToVideoPipeline], ids=["t2v", "i2v"])
def test_wan22_decode_equals_stock_frames(variant, pipeline_class):
    pipe, stock, sizes = wan22(variant, pipeline_class)
    if pipeline_class is WanImageToVideoPipeline:
        sizes["image"] = make_pil_images(1, (sizes["width"], sizes["height"]))[0]
    latents = generate(stock, "latent", **sizes).frames
    expected = generate(stock, "np", **sizes).frames
    assert latents.shape[1] == pipe.vae.config.z_dim
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np")
    assert_same_frames(frames, expected, "np")


@pytest.mark.parametrize("variant", sorted(WAN22))
def test_wan22_i2v_encode_equals_stock_condition(variant):
    pipe, stock, sizes = wan22(variant, WanImageToVideoPipeline)
    image = make_pil_images(1, (sizes["width"], sizes["height"]), seed=3)[0]
    seen = first_transformer_input(stock, lambda: generate(stock, "latent", image=image, **sizes))
    with torch.no_grad():
        latents = pipe.encode_latents(image, num_frames=FRAMES, **sizes)
    if variant == "TI2V-5B":
        # `expand_timesteps`: the image alone is encoded (one latent frame), and the transformer's first input is
        # `(1 - mask) * condition + mask * noise`, the condition on latent frame 0.
        assert latents.shape == (1, 48, 1, sizes["height"] // 16, sizes["width"] // 16)
        assert torch.equal(latents, seen[:, :, :1])
    else:
        assert latents.shape == (1, 16, 2, sizes["height"] // 8, sizes["width"] // 8)
        assert torch.equal(latents, seen[:, 16 + 4 :])


def test_flf2v_encode_and_decode_equal_stock():
    # First-last-frame-to-video (`last_image`): the condition is the image, black frames and the last image. On Wan
    # 2.2 A14B's components (no image encoder: Wan 2.1's embeds the two images with a transformer built for two,
    # `pos_embed_seq_len`).
    pipe, stock, sizes = wan22("A14B", WanImageToVideoPipeline)
    image, last_image = make_pil_images(2, (sizes["width"], sizes["height"]), seed=4)
    inputs = {"image": image, "last_image": last_image, **sizes}
    seen = first_transformer_input(stock, lambda: generate(stock, "latent", **inputs))
    with torch.no_grad():
        latents = pipe.encode_latents(image, num_frames=FRAMES, last_image=last_image, **sizes)
        first_only = pipe.encode_latents(image, num_frames=FRAMES, **sizes)
    assert torch.equal(latents, seen[:, 16 + 4 :])
    assert not torch.equal(latents[:, :, -1], first_only[:, :, -1])  # the last image shows in the last latent frame
    expected = generate(stock, "np", **inputs).frames
    with torch.no_grad():
        frames = pipe.decode_latents(generate(stock, "latent", **inputs).frames, output_type="np")
    assert_same_frames(frames, expected, "np")


# Wan VACE -------------------------------------------------------------------------------------------------------------
# Wan's VAE and arithmetic; the control input holds the masked video's latents (inactive, reactive) and the folded
# mask; reference images add latent frames in front of the video's, which `output_type="latent"` keeps and the stock
# `__call__` drops before decoding.


@pytest.fixture(scope="module")
def vace():
    if "if not isinstance(prompt, str):" in inspect.getsource(WanVACEPipeline.__call__):
        pytest.skip(
            f"diffusers {diffusers.__version__}'s WanVACEPipeline takes only a str prompt (no `prompt_embeds` without "
            "one): it needs its UMT5 text encoder, whose tokenizer cannot be built offline"
        )
    pipe = scaled(WanVACEPipeline)(**wan_vace_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe, stock_twin(pipe, WanVACEPipeline)


def test_vace_decode_and_encode_equal_stock(vace):
    pipe, stock = vace
    video = make_pil_images(FRAMES, (WIDTH, HEIGHT), seed=5)
    inputs = {"video": video, "reference_images": make_pil_images(1, (WIDTH, HEIGHT), seed=7), "num_frames": FRAMES}
    seen = []
    hook = stock.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["control_hidden_states"].clone()), with_kwargs=True
    )
    try:
        latents = generate(stock, "latent", **inputs).frames
    finally:
        hook.remove()
    expected = generate(stock, "np", **inputs).frames
    assert latents.shape == (1, 16, 1 + 2, HEIGHT // 8, WIDTH // 8)  # the reference image's latent frame first
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np", num_frames=FRAMES)
        encoded = pipe.encode_latents(video, height=HEIGHT, width=WIDTH)
    assert_same_frames(frames, expected, "np")
    # control input: inactive latents (the video where the mask is 0: none, no mask given), reactive latents (the
    # whole video), each after the reference image's latent frame; then the folded mask
    assert encoded.shape == (1, 16, 2, HEIGHT // 8, WIDTH // 8)
    assert torch.equal(encoded, seen[0][:, 16:32, 1:])


def test_vace_decode_without_references_needs_no_num_frames(vace):
    pipe, stock = vace
    latents = generate(stock, "latent", num_frames=FRAMES).frames
    expected = generate(stock, "np", num_frames=FRAMES).frames
    with torch.no_grad():
        assert_same_frames(pipe.decode_latents(latents, output_type="np"), expected, "np")
    with pytest.raises(ValueError, match="num_frames"):
        pipe.decode_latents(latents, num_frames=9)


# Lucy Edit --------------------------------------------------------------------------------------------------------------
# Wan's VAE and arithmetic; the video to edit is encoded video by video, `(z - mean) * (1 / std)` of the posterior mode,
# and concatenated on the channel axis after the noise latents.


def test_lucy_edit_decode_and_encode_equal_stock():
    if not hasattr(diffusers, "LucyEditPipeline"):
        pytest.skip(f"LucyEditPipeline is not in diffusers {diffusers.__version__}")
    pipeline_class = diffusers.LucyEditPipeline
    pipe = scaled(pipeline_class)(**lucy_edit_components())
    pipe.set_progress_bar_config(disable=True)
    stock = stock_twin(pipe, pipeline_class)
    video = make_pil_images(FRAMES, (WIDTH, HEIGHT), seed=5)
    latents, seen = run_with_first_input(stock, lambda: generate(stock, "latent", video=video))
    expected = generate(stock, "np", video=video).frames
    with torch.no_grad():
        frames = pipe.decode_latents(latents.frames, output_type="np")
        encoded = pipe.encode_latents(video, height=HEIGHT, width=WIDTH)
    assert_same_frames(frames, expected, "np")
    assert encoded.shape == (1, 16, 2, HEIGHT // 8, WIDTH // 8)
    assert torch.equal(encoded, seen[:, 16:])


# AnyFlow ----------------------------------------------------------------------------------------------------------------
# Wan's VAE and arithmetic; the transformer works frames first, `output_type="latent"` returns channels first. Its
# conditioning video is encoded with the posterior mean, `(z - mean) * (1 / std)`, and written over the first latent
# frames of every transformer input (frames first).


def test_anyflow_decode_and_encode_equal_stock():
    if not hasattr(diffusers, "AnyFlowPipeline"):
        pytest.skip(f"AnyFlowPipeline is not in diffusers {diffusers.__version__}")
    pipe = scaled(diffusers.AnyFlowPipeline)(**anyflow_components())
    pipe.set_progress_bar_config(disable=True)
    stock = stock_twin(pipe, diffusers.AnyFlowPipeline)
    video = make_pil_images(FRAMES, (WIDTH, HEIGHT), seed=5)
    inputs = {"video": video, "num_frames": 9}  # 2 latent frames of context, 3 in all
    latents, seen = run_with_first_input(stock, lambda: generate(stock, "latent", **inputs))
    expected = generate(stock, "np", **inputs).frames
    latents = latents.frames
    assert latents.shape == (1, 16, 3, HEIGHT // 8, WIDTH // 8)
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np")
        encoded = pipe.encode_latents(video, height=HEIGHT, width=WIDTH)
    assert_same_frames(frames, expected, "np")
    assert encoded.shape == (1, 16, 2, HEIGHT // 8, WIDTH // 8)
    assert torch.equal(encoded.permute(0, 2, 1, 3, 4), seen[:, :2])
