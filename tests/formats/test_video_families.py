"""HunyuanVideo, CogVideoX and Mochi (`formats.video.HUNYUAN_VIDEO`, `COGVIDEOX`, `MOCHI`) against their stock
text-to-video pipelines' `__call__` (and CogVideoX's video-to-video one for encoding).

- HunyuanVideo: `scaling_factor` only; decode `latents / f`.
- CogVideoX: the transformer's layout is `(batch, frames, channels, height, width)`; the stock `__call__` decodes
  through its own `self.decode_latents(latents)` (`1 / f * latents`), which the scaled class must leave alone.
- Mochi: per-channel `latents_mean`/`latents_std` and `scaling_factor` in the config; decode `x * std / f + mean`.

Non-trivial statistics in every fixture; float32 on CPU, tiny components, prompt embeddings passed directly: bitwise.
"""

import numpy as np
import pytest
import torch
from _compare import assert_same_frames
from _video import first_transformer_input, stock_twin
from diffusers import (
    CogVideoXPipeline,
    CogVideoXVideoToVideoPipeline,
    DDIMScheduler,
    HunyuanVideoPipeline,
    MochiPipeline,
)
from fixtures import (
    cogvideox_components,
    generator,
    hunyuan_video_components,
    make_pil_images,
    mochi_components,
    video_prompt_embeds,
)

from diffusers_scaled import scaled


def hunyuan_inputs():
    return {**video_prompt_embeds(16), "pooled_prompt_embeds": torch.randn(1, 8, generator=generator(1))}


FAMILIES = {
    # stock class, components, prompt inputs, call sizes (num_frames chosen for each VAE's temporal compression)
    "HunyuanVideo": (HunyuanVideoPipeline, hunyuan_video_components, hunyuan_inputs, {"num_frames": 5}),
    "CogVideoX": (
        CogVideoXPipeline,
        cogvideox_components,
        lambda: {"prompt_embeds": video_prompt_embeds(32, length=16)["prompt_embeds"], "guidance_scale": 1.0},
        {"num_frames": 5},
    ),
    "Mochi": (
        MochiPipeline,
        mochi_components,
        lambda: {**video_prompt_embeds(32), "guidance_scale": 1.0},
        {"num_frames": 7},
    ),
}


def generate(pipe, family, output_type, seed=0, **inputs):
    _, _, prompt, sizes = FAMILIES[family]
    inputs = {"height": 16, "width": 16, "num_inference_steps": 2, **sizes, **prompt(), **inputs}
    return pipe(generator=generator(seed), output_type=output_type, **inputs).frames


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request):
    stock_class, components, _, _ = FAMILIES[request.param]
    pipe = scaled(stock_class)(**components())
    pipe.set_progress_bar_config(disable=True)
    return request.param, pipe, stock_twin(pipe, stock_class)


def test_decode_equals_stock_frames(family):
    # "np" only: the "pt" and "pil" forms share `postprocess_video`, checked for each form by the Wan and LTX tests.
    output_type = "np"
    name, pipe, stock = family
    latents = generate(stock, name, "latent")
    expected = generate(stock, name, output_type)
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type=output_type)
    assert_same_frames(frames, expected, output_type)


def test_cogvideox_scaled_class_generates_as_stock():
    # CogVideoX's `__call__` calls `self.decode_latents(latents)`, expecting the stock method's raw frames tensor.
    pipe = scaled(CogVideoXPipeline)(**cogvideox_components())
    pipe.set_progress_bar_config(disable=True)
    stock = stock_twin(pipe, CogVideoXPipeline)
    assert np.array_equal(generate(pipe, "CogVideoX", "np"), generate(stock, "CogVideoX", "np"))


def test_cogvideox_latents_are_frames_first():
    pipe = scaled(CogVideoXPipeline)(**cogvideox_components())
    pipe.set_progress_bar_config(disable=True)
    latents = generate(pipe, "CogVideoX", "latent")
    assert latents.shape == (1, 2, 4, 2, 2)  # (batch, frames, channels, height, width)


class NoNoiseDDIMScheduler(DDIMScheduler):
    """`add_noise` returns the clean sample: the video-to-video pipeline's transformer then sees its clean latents."""

    def add_noise(self, original_samples, noise, timesteps):
        return original_samples


def test_cogvideox_video_encode_equals_stock_video_to_video_latents():
    pipe = scaled(CogVideoXPipeline)(**cogvideox_components())
    stock = stock_twin(pipe, CogVideoXVideoToVideoPipeline)
    stock.scheduler = NoNoiseDDIMScheduler()
    video = make_pil_images(5, (16, 16), seed=5)
    inputs = {"prompt_embeds": video_prompt_embeds(32, length=16)["prompt_embeds"], "guidance_scale": 1.0}
    seen = first_transformer_input(
        stock,
        lambda: stock(
            video=video,
            height=16,
            width=16,
            num_inference_steps=2,
            strength=0.5,
            generator=generator(4),
            output_type="latent",
            **inputs,
        ),
    )
    with torch.no_grad():
        latents = pipe.encode_latents(video, generator=generator(4), height=16, width=16, packed=True)
        unpacked = pipe.encode_latents(video, generator=generator(4), height=16, width=16)
    assert latents.shape == (1, 2, 4, 2, 2)  # packed: the transformer's (batch, frames, channels, height, width)
    assert torch.equal(latents, seen)
    assert torch.equal(unpacked, latents.permute(0, 2, 1, 3, 4))
