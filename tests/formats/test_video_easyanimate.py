"""EasyAnimate (`formats.video.EASYANIMATE`) against the stock `EasyAnimatePipeline` / `EasyAnimateInpaintPipeline`
`__call__`.

The pipelines decode `vae.decode(1 / f * x)` (`scaling_factor=0.7` in the fixture), and the inpainting pipeline
encodes the masked video video by video, `f * z` of the posterior mode; with an all-zero mask (nothing to inpaint) the
masked video is the video itself (`video * 1 + (-1) * 0`, exact), so the masked-video channels of the transformer's
input are `encode_latents(video)`. Float32 on CPU, tiny components, prompt embeddings passed directly: bitwise.
"""

import pytest
import torch
from _compare import assert_same_frames
from _video import stock_twin
from diffusers import EasyAnimateInpaintPipeline, EasyAnimatePipeline
from fixtures import easyanimate_components, generator

from diffusers_scaled import scaled


HEIGHT, WIDTH, FRAMES = 16, 32, 5  # 2 latent frames of 2 x 4


def generate(pipe, output_type, **inputs):
    g = torch.Generator().manual_seed(1)
    embeds = {"prompt_embeds": torch.randn(1, 8, 16, generator=g), "prompt_attention_mask": torch.ones(1, 8).long()}
    return pipe(
        **embeds,
        height=HEIGHT,
        width=WIDTH,
        num_frames=FRAMES,
        num_inference_steps=2,
        guidance_scale=1.0,
        generator=generator(0),
        output_type=output_type,
        **inputs,
    ).frames


@pytest.mark.parametrize("pipeline_class", [EasyAnimatePipeline, EasyAnimateInpaintPipeline], ids=["t2v", "inpaint"])
def test_decode_and_encode_equal_stock(pipeline_class):
    inpaint = pipeline_class is EasyAnimateInpaintPipeline
    pipe = scaled(pipeline_class)(**easyanimate_components(inpaint=inpaint))
    stock = stock_twin(pipe, pipeline_class)
    video = torch.rand(
        1, 3, FRAMES, HEIGHT, WIDTH, generator=generator(6)
    )  # (batch, channels, frames, h, w) in [0, 1]
    inputs = {"video": video, "mask_video": torch.zeros(1, 1, FRAMES, HEIGHT, WIDTH)} if inpaint else {}
    seen = []
    hook = stock.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs.get("inpaint_latents")), with_kwargs=True
    )
    try:
        latents = generate(stock, "latent", **inputs)
    finally:
        hook.remove()
    expected = generate(stock, "np", **inputs)
    assert latents.shape == (1, 4, 2, HEIGHT // 8, WIDTH // 8)
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np")
    assert_same_frames(frames, expected, "np")
    if inpaint:  # inpaint latents: the encoded mask (4 channels), the masked video's latents (4)
        with torch.no_grad():
            encoded = pipe.encode_latents(video.permute(0, 2, 1, 3, 4), height=HEIGHT, width=WIDTH)
        assert encoded.shape == (1, 4, 2, HEIGHT // 8, WIDTH // 8)
        assert torch.equal(encoded, seen[0][:, 4:])
