"""Kandinsky 5 video (`formats.video.KANDINSKY5`) against the stock `Kandinsky5T2VPipeline` / `Kandinsky5I2VPipeline`
`__call__`.

The transformer works channels last, `(batch, frames, height, width, channels)`, the form `output_type="latent"`
returns; the pipelines permute to the VAE's layout and decode `x / f` (HunyuanVideo's VAE, `scaling_factor` 0.477).
The image-to-video condition is the image as one frame, `f * z` of a posterior sample drawn with the call's generator
right after the starting noise, written over latent frame 0 of the transformer's input. Float32 on CPU, tiny
components, prompt embeddings passed directly: bitwise.
"""

import diffusers
import pytest
import torch
from _compare import assert_same_frames
from _video import run_with_first_input, stock_twin
from fixtures import generator, kandinsky5_video_components, make_pil_images

from diffusers_scaled import scaled


if not hasattr(diffusers, "Kandinsky5T2VPipeline"):
    pytest.skip(f"Kandinsky 5 is not in diffusers {diffusers.__version__}", allow_module_level=True)


HEIGHT, WIDTH = 16, 32  # latent frames of 2 x 4
# text-to-video: 2 latent frames; image-to-video: 5, as its `normalize_first_frame` (applied before the latent output
# and before decoding) needs a reference frame after the first 4
FRAMES = {"Kandinsky5T2VPipeline": 5, "Kandinsky5I2VPipeline": 17}


def generate(pipe, output_type, **inputs):
    g = torch.Generator().manual_seed(1)
    embeds = {
        "prompt_embeds_qwen": torch.randn(1, 8, 16, generator=g),
        "prompt_embeds_clip": torch.randn(1, 8, generator=g),
        "prompt_cu_seqlens": torch.tensor([0, 8], dtype=torch.int32),
    }
    return pipe(
        **embeds,
        height=HEIGHT,
        width=WIDTH,
        num_frames=FRAMES[type(pipe).__name__.removeprefix("Scaled")],
        num_inference_steps=2,
        guidance_scale=1.0,
        generator=generator(0),
        output_type=output_type,
        **inputs,
    ).frames


@pytest.mark.parametrize("name", ["Kandinsky5T2VPipeline", "Kandinsky5I2VPipeline"])
def test_decode_and_encode_equal_stock(name):
    pipeline_class = getattr(diffusers, name)
    pipe = scaled(pipeline_class)(**kandinsky5_video_components())
    stock = stock_twin(pipe, pipeline_class)
    image = make_pil_images(1, (WIDTH, HEIGHT), seed=3)[0]
    inputs = {"image": image} if name == "Kandinsky5I2VPipeline" else {}
    latents, seen = run_with_first_input(stock, lambda: generate(stock, "latent", **inputs))
    expected = generate(stock, "np", **inputs)
    latent_frames = (FRAMES[name] - 1) // 4 + 1
    assert latents.shape == (1, latent_frames, HEIGHT // 8, WIDTH // 8, 4)  # (batch, frames, h, w, channels)
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np")
    assert_same_frames(frames, expected, "np")
    if inputs:
        g = generator(0)
        torch.randn(latents.shape, generator=g)  # the starting noise, drawn first
        with torch.no_grad():
            packed = pipe.encode_latents(image, generator=g, height=HEIGHT, width=WIDTH, packed=True)
        assert packed.shape == (1, 1, HEIGHT // 8, WIDTH // 8, 4)
        assert torch.equal(packed, seen[:, :1, :, :, :4])
