"""HunyuanVideo 1.5 (`formats.video.HUNYUAN_VIDEO_15`) against the stock `HunyuanVideo15Pipeline` and
`HunyuanVideo15ImageToVideoPipeline` `__call__`, and HunyuanVideo image-to-video (`HUNYUAN_VIDEO_I2V`, below) against
`HunyuanVideoImageToVideoPipeline` (HunyuanVideo text-to-video: tests/formats/test_video_families.py).

`scaling_factor` only (0.8 in the fixture): decode `latents / f`; the image-to-video condition is the image, sized
from its aspect ratio and `transformer.config.target_size` and centre-cropped, encoded as one frame (the posterior's
mode) times `f`, on latent frame 0 of the condition channels (zeros after it). Float32 on CPU, tiny components,
prompt embeddings passed directly: bitwise.
"""

import diffusers
import pytest
import torch
from _compare import assert_same_frames
from _video import first_transformer_input, stock_twin
from diffusers import HunyuanVideoImageToVideoPipeline
from fixtures import (
    generator,
    hunyuan_video15_components,
    hunyuan_video15_prompt_embeds,
    hunyuan_video_components,
    make_pil_images,
    video_prompt_embeds,
)

from diffusers_scaled import scaled


requires_hunyuan_video15 = pytest.mark.skipif(
    not hasattr(diffusers, "HunyuanVideo15Pipeline"),
    reason=f"HunyuanVideo 1.5 is not in diffusers {diffusers.__version__}",
)


FRAMES = 5  # 2 latent frames
IMAGE_SIZE = (56, 24)  # (width, height): the pipeline picks the 32x16 bucket and centre-crops the image to it


def make(name):
    pipeline_class = getattr(diffusers, name)
    components = hunyuan_video15_components(image_to_video=name == "HunyuanVideo15ImageToVideoPipeline")
    pipe = scaled(pipeline_class)(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe, stock_twin(pipe, pipeline_class)


def generate(pipe, output_type, **inputs):
    if "image" not in inputs:
        inputs = {"height": 16, "width": 32, **inputs}
    inputs = {"num_frames": FRAMES, "num_inference_steps": 2, **hunyuan_video15_prompt_embeds(), **inputs}
    return pipe(generator=generator(0), output_type=output_type, **inputs).frames


@requires_hunyuan_video15
@pytest.mark.parametrize("name", ["HunyuanVideo15Pipeline", "HunyuanVideo15ImageToVideoPipeline"], ids=["t2v", "i2v"])
def test_decode_equals_stock_frames(name):
    pipe, stock = make(name)
    inputs = {"image": make_pil_images(1, IMAGE_SIZE)[0]} if name == "HunyuanVideo15ImageToVideoPipeline" else {}
    latents = generate(stock, "latent", **inputs)
    expected = generate(stock, "np", **inputs)
    assert latents.shape == (1, 4, 2, 1, 2)
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np")
    assert_same_frames(frames, expected, "np")


@requires_hunyuan_video15
def test_i2v_encode_equals_stock_condition():
    pipe, stock = make("HunyuanVideo15ImageToVideoPipeline")
    image = make_pil_images(1, IMAGE_SIZE, seed=3)[0]
    seen = first_transformer_input(stock, lambda: generate(stock, "latent", image=image))
    # The transformer's input: latents (4 channels), condition latents (4: the image on frame 0, zeros after), mask.
    condition = seen[:, 4:8, :1]
    assert not seen[:, 4:8, 1:].any()
    with torch.no_grad():
        latents = pipe.encode_latents(image)  # sized and cropped as the pipeline does
        resized = pipe.encode_latents(image, height=16, width=32)
    assert latents.shape == (1, 4, 1, 1, 2)
    assert torch.equal(latents, condition)
    assert torch.equal(resized, condition)
    with pytest.raises(ValueError, match="`height` and `width` go together"):
        pipe.encode_latents(image, height=16)


# HunyuanVideo image-to-video -----------------------------------------------------------------------------------------
# `scaling_factor` only: the condition is the image's posterior mode times `f`, one frame. With a `latent_concat`
# transformer the stock `output_type="latent"` drops latent frame 0 while the video is decoded from all frames (the
# first 4 video frames dropped): `decode_latents` takes the final latents with all frames (from `callback_on_step_end`)
# and `num_frames`, and refuses the dropped-frame ones; with `token_replace` it decodes what the pipeline returns.
I2V_FRAMES = 9  # 3 latent frames


def make_i2v(image_condition_type):
    pipe = scaled(HunyuanVideoImageToVideoPipeline)(**hunyuan_video_components(image_condition_type))
    pipe.set_progress_bar_config(disable=True)
    return pipe, stock_twin(pipe, HunyuanVideoImageToVideoPipeline)


def generate_i2v(pipe, output_type, image, **inputs):
    embeds = {**video_prompt_embeds(16), "pooled_prompt_embeds": torch.randn(1, 8, generator=generator(1))}
    inputs = {"height": 16, "width": 32, "num_frames": I2V_FRAMES, "num_inference_steps": 2, **embeds, **inputs}
    return pipe(image=image, generator=generator(0), output_type=output_type, **inputs).frames


@pytest.mark.parametrize("image_condition_type", ["latent_concat", "token_replace"])
def test_hunyuan_i2v_decode_equals_stock_frames(image_condition_type):
    pipe, stock = make_i2v(image_condition_type)
    image = make_pil_images(1, (32, 16))[0]
    final = {}

    def keep_final_latents(pipeline, step, timestep, kwargs):
        final["latents"] = kwargs["latents"]
        return {}

    returned = generate_i2v(stock, "latent", image, callback_on_step_end=keep_final_latents)
    expected = generate_i2v(stock, "np", image)
    with torch.no_grad():
        if image_condition_type == "token_replace":
            assert torch.equal(returned, final["latents"])
            frames = pipe.decode_latents(returned, output_type="np")
        else:
            assert torch.equal(returned, final["latents"][:, :, 1:])
            frames = pipe.decode_latents(final["latents"], output_type="np", num_frames=I2V_FRAMES)
            with pytest.raises(ValueError, match="drops their first latent frame"):
                pipe.decode_latents(returned, num_frames=I2V_FRAMES)
            with pytest.raises(ValueError, match="num_frames"):
                pipe.decode_latents(final["latents"])
    assert expected.shape[1] == (5 if image_condition_type == "latent_concat" else 9)
    assert_same_frames(frames, expected, "np")


@pytest.mark.parametrize("image_condition_type", ["latent_concat", "token_replace"])
def test_hunyuan_i2v_encode_equals_stock_condition(image_condition_type):
    pipe, stock = make_i2v(image_condition_type)
    image = make_pil_images(1, (32, 16), seed=3)[0]
    seen = first_transformer_input(stock, lambda: generate_i2v(stock, "latent", image))
    # latent_concat: (latents 4, condition 4 (the image on frame 0, zeros after), mask 1) channels; token_replace:
    # the condition is latent frame 0.
    condition = seen[:, 4:8, :1] if image_condition_type == "latent_concat" else seen[:, :, :1]
    with torch.no_grad():
        latents = pipe.encode_latents(image, height=16, width=32)
    assert latents.shape == (1, 4, 1, 2, 4)
    assert torch.equal(latents, condition)


def test_hunyuan_skyreels_i2v_decode_and_encode_equal_stock():
    # `HunyuanSkyreelsImageToVideoPipeline`: decode `x / f`; the condition is a posterior *sample* of the image (the
    # call's generator, before the noise) times `f`, concatenated on the channel axis (frame 0; zeros after it).
    from diffusers import HunyuanSkyreelsImageToVideoPipeline

    pipe = scaled(HunyuanSkyreelsImageToVideoPipeline)(**hunyuan_video_components("skyreels"))
    pipe.set_progress_bar_config(disable=True)
    stock = stock_twin(pipe, HunyuanSkyreelsImageToVideoPipeline)
    image = make_pil_images(1, (32, 16), seed=3)[0]
    inputs = {"num_frames": 5}
    latents = generate_i2v(stock, "latent", image, **inputs)
    expected = generate_i2v(stock, "np", image, **inputs)
    seen = first_transformer_input(stock, lambda: generate_i2v(stock, "latent", image, **inputs))
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np")
        condition = pipe.encode_latents(image, generator=generator(0), height=16, width=32)
    assert_same_frames(frames, expected, "np")
    assert condition.shape == (1, 4, 1, 2, 4)
    assert torch.equal(condition, seen[:, 4:, :1])
    assert not seen[:, 4:, 1:].any()
