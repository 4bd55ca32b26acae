"""LTX-Video (`formats.video.LTX`) against the stock `LTXPipeline` / `LTXImageToVideoPipeline` `__call__`.

LTX keeps its per-channel statistics in registered buffers on the VAE (`vae.latents_mean`, `vae.latents_std`,
non-trivial in the fixture, with `scaling_factor=0.8`), and its transformer works on packed latents, the form
`output_type="latent"` returns. All in float32 on CPU with tiny components (prompt embeddings passed directly), where
both paths run the same operations: bitwise.
"""

import numpy as np
import pytest
import torch
from _compare import assert_same_frames
from _video import first_transformer_input, run_with_first_input, stock_twin
from diffusers import LTXImageToVideoPipeline, LTXPipeline
from fixtures import generator, ltx_components, make_pil_images, video_prompt_embeds

from diffusers_scaled import ScaledLTXImageToVideoPipeline, ScaledLTXPipeline, scaled


HEIGHT, WIDTH, FRAMES = 32, 64, 5  # latents (2 frames, 8 x 16): not square, so that a height/width mix-up fails
TOKENS_PER_FRAME = (HEIGHT // 4) * (WIDTH // 4)


def make(pipeline_class, **kwargs):
    pipe = pipeline_class(**ltx_components(**kwargs))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, output_type, seed=0, **inputs):
    inputs = {"height": HEIGHT, "width": WIDTH, "num_frames": FRAMES, "num_inference_steps": 2, **inputs}
    return pipe(
        **video_prompt_embeds(32), guidance_scale=1.0, generator=generator(seed), output_type=output_type, **inputs
    ).frames


@pytest.fixture(scope="module")
def t2v():
    return make(ScaledLTXPipeline)


@pytest.fixture(scope="module")
def i2v():
    return make(ScaledLTXImageToVideoPipeline)


@pytest.fixture(scope="module")
def stock_t2v(t2v):
    """The stock pipeline's `.frames` for each `output_type`, one call each (same seed)."""
    stock = stock_twin(t2v, LTXPipeline)
    return {output_type: generate(stock, output_type) for output_type in ("latent", "np", "pt", "pil")}


def test_scaled_gives_the_ready_classes():
    assert scaled(LTXPipeline) is ScaledLTXPipeline
    assert scaled(LTXImageToVideoPipeline) is ScaledLTXImageToVideoPipeline


@pytest.mark.parametrize("output_type", ["np", "pt", "pil"])
def test_decode_packed_latents_equals_stock_frames(t2v, stock_t2v, output_type):
    latents = stock_t2v["latent"]
    assert latents.shape == (1, 2 * TOKENS_PER_FRAME, 8)  # packed: (batch, frames * h * w, channels)
    with torch.no_grad():
        frames = t2v.decode_latents(latents, output_type=output_type, height=HEIGHT, width=WIDTH, num_frames=FRAMES)
    assert_same_frames(frames, stock_t2v[output_type], output_type)


def test_decode_unpacked_latents_equals_stock_frames(t2v, stock_t2v):
    unpacked = LTXPipeline._unpack_latents(stock_t2v["latent"], 2, HEIGHT // 4, WIDTH // 4)
    with torch.no_grad():
        frames = t2v.decode_latents(unpacked)
    assert np.array_equal(frames, stock_t2v["np"])


def test_decode_packed_latents_needs_the_call_sizes(t2v):
    latents = torch.zeros(1, 2 * TOKENS_PER_FRAME, 8)
    with pytest.raises(ValueError, match="num_frames"):
        t2v.decode_latents(latents, height=HEIGHT, width=WIDTH)
    with pytest.raises(ValueError, match="shape"):
        t2v.decode_latents(latents, height=WIDTH, width=WIDTH, num_frames=FRAMES)


def test_scaled_class_generates_as_stock(t2v, stock_t2v):
    assert np.array_equal(generate(t2v, "np"), stock_t2v["np"])


def test_decode_with_timestep_conditioning_equals_stock_frames():
    # LTX-Video 0.9.1+: the decoder takes a timestep and the pipeline mixes noise from the call's generator into the
    # latents first. With its starting `latents` given, the stock call draws nothing from its generator before that
    # noise, so a fresh generator with the same seed reproduces it.
    pipe = make(ScaledLTXPipeline, timestep_conditioning=True)
    stock = stock_twin(pipe, LTXPipeline)
    start = torch.randn(1, 2 * TOKENS_PER_FRAME, 8, generator=generator(3))
    options = {"decode_timestep": 0.05, "decode_noise_scale": 0.025}
    latents = generate(stock, "latent", latents=start)
    expected = generate(stock, "np", seed=7, latents=start, **options)
    with torch.no_grad():
        frames = pipe.decode_latents(
            latents, height=HEIGHT, width=WIDTH, num_frames=FRAMES, generator=generator(7), **options
        )
    assert np.array_equal(frames, expected)
    with torch.no_grad():  # the noise matters: without it (or with another seed) the frames differ
        other = pipe.decode_latents(
            latents, height=HEIGHT, width=WIDTH, num_frames=FRAMES, generator=generator(8), **options
        )
    assert not np.array_equal(other, expected)


def test_i2v_decode_equals_stock_frames(i2v):
    output_type = "np"  # the other forms share the post-processing checked above
    stock = stock_twin(i2v, LTXImageToVideoPipeline)
    image = make_pil_images(1, (WIDTH, HEIGHT))[0]
    latents = generate(stock, "latent", image=image)
    expected = generate(stock, output_type, image=image)
    with torch.no_grad():
        frames = i2v.decode_latents(latents, output_type=output_type, height=HEIGHT, width=WIDTH, num_frames=FRAMES)
    assert_same_frames(frames, expected, output_type)


def test_i2v_encode_equals_stock_condition(i2v):
    # The stock pipeline encodes the image with the call's generator (a posterior sample), normalizes it and puts it
    # in the first latent frame, `init * 1 + noise * 0`: the first frame's tokens of the transformer's first input.
    stock = stock_twin(i2v, LTXImageToVideoPipeline)
    image = make_pil_images(1, (WIDTH, HEIGHT), seed=3)[0]
    seen = first_transformer_input(stock, lambda: generate(stock, "latent", seed=11, image=image))
    with torch.no_grad():
        packed = i2v.encode_latents(image, generator=generator(11), height=HEIGHT, width=WIDTH, packed=True)
        unpacked = i2v.encode_latents(image, generator=generator(11), height=HEIGHT, width=WIDTH)
    assert packed.shape == (1, TOKENS_PER_FRAME, 8)
    assert torch.equal(packed, seen[:, :TOKENS_PER_FRAME])
    assert unpacked.shape == (1, 8, 1, HEIGHT // 4, WIDTH // 4)
    assert torch.equal(i2v._pack_latents(unpacked), packed)


def test_condition_pipeline_decode_and_encode_equal_stock(i2v):
    # `LTXConditionPipeline`: `output_type="latent"` returns the latents unpacked, `(batch, channels, frames, h, w)`.
    # Its image condition at frame 0 with strength 1 is `lerp(noise, condition, 1.0)`, the condition itself (torch's
    # lerp returns `end` exactly at weight 1): a posterior sample drawn with the call's generator right after the
    # starting noise, normalized as LTX's image-to-video condition. Without `image_cond_noise_scale` the transformer's
    # first input starts with its tokens.
    from diffusers import LTXConditionPipeline

    pipe = scaled(LTXConditionPipeline)(**i2v.components)
    pipe.set_progress_bar_config(disable=True)
    stock = stock_twin(pipe, LTXConditionPipeline)
    image = make_pil_images(1, (WIDTH, HEIGHT), seed=3)[0]
    inputs = {"image": image, "image_cond_noise_scale": 0.0}
    latents, seen = run_with_first_input(stock, lambda: generate(stock, "latent", seed=11, **inputs))
    expected = generate(stock, "np", seed=11, **inputs)
    assert latents.shape == (1, 8, 2, HEIGHT // 4, WIDTH // 4)
    g = generator(11)
    torch.randn(latents.shape, generator=g)  # the starting noise, drawn first
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np")
        packed = pipe.encode_latents(image, generator=g, height=HEIGHT, width=WIDTH, packed=True)
    assert_same_frames(frames, expected, "np")
    assert torch.equal(packed, seen[:, :TOKENS_PER_FRAME])
