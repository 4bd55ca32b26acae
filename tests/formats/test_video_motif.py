"""Motif-Video (`formats.video.MOTIF_VIDEO`) against the stock `MotifVideoPipeline` / `MotifVideoImage2VideoPipeline`
`__call__`.

Wan's VAE, with Motif's own order: decode `x * std + mean`, encode `(z - mean) / std` (the VAE config's statistics,
non-trivial in the fixture). The image-to-video condition is the image as one frame, a posterior sample drawn with the
call's generator after the starting noise, concatenated on the channel axis after the noise latents (zeros after
frame 0). Float32 on CPU, tiny components, prompt embeddings passed directly: bitwise.
"""

import diffusers
import pytest
import torch
from _compare import assert_same_frames
from _video import run_with_first_input, stock_twin
from fixtures import generator, make_pil_images, motif_video_components

from diffusers_scaled import scaled


if not hasattr(diffusers, "MotifVideoPipeline"):
    pytest.skip(f"Motif-Video is not in diffusers {diffusers.__version__}", allow_module_level=True)


HEIGHT, WIDTH, FRAMES = 16, 32, 5  # 2 latent frames of 2 x 4


def generate(pipe, output_type, **inputs):
    g = torch.Generator().manual_seed(1)
    embeds = {"prompt_embeds": torch.randn(1, 8, 16, generator=g), "prompt_attention_mask": torch.ones(1, 8).long()}
    if "image" in inputs:
        inputs["prompt"] = None  # (no default there)
    return pipe(
        **embeds,
        height=HEIGHT,
        width=WIDTH,
        num_frames=FRAMES,
        num_inference_steps=2,
        generator=generator(0),
        output_type=output_type,
        **inputs,
    ).frames


@pytest.mark.parametrize("name", ["MotifVideoPipeline", "MotifVideoImage2VideoPipeline"])
def test_decode_and_encode_equal_stock(name):
    pipeline_class = getattr(diffusers, name)
    image_to_video = name == "MotifVideoImage2VideoPipeline"
    pipe = scaled(pipeline_class)(**motif_video_components(image_to_video))
    stock = stock_twin(pipe, pipeline_class)
    image = make_pil_images(1, (WIDTH, HEIGHT), seed=3)[0]
    inputs = {"image": image} if image_to_video else {}
    latents, seen = run_with_first_input(stock, lambda: generate(stock, "latent", **inputs))
    expected = generate(stock, "np", **inputs)
    assert latents.shape == (1, 16, 2, HEIGHT // 8, WIDTH // 8)
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np")
    assert_same_frames(frames, expected, "np")
    if image_to_video:
        g = generator(0)
        torch.randn(latents.shape, generator=g)  # the starting noise, drawn first
        with torch.no_grad():
            encoded = pipe.encode_latents(image, generator=g, height=HEIGHT, width=WIDTH)
        assert encoded.shape == (1, 16, 1, HEIGHT // 8, WIDTH // 8)
        assert torch.equal(encoded, seen[:, 16:32, :1])
