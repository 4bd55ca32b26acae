"""The opt-in compiled VAE path and `torch.compile` compatibility, on CPU.

The `eager` compile backend traces with dynamo but runs the traced graph without code generation: the arithmetic is
unchanged, so results must be bitwise those of the eager VAE, and `fullgraph=True` fails on any graph break. The speed
of real (inductor) compilation is measured by `benchmarks/bench_compile.py`, not here.
"""

import torch
from fixtures import generator, make_pil_images, sd_components, sdxl_components

from diffusers_scaled import (
    LatentScaling,
    ScaledStableDiffusionImg2ImgPipeline,
    ScaledStableDiffusionXLImg2ImgPipeline,
    _vae,
)
from diffusers_scaled._compile import CompiledAutoencoderKL, ShapeCompiledModule


def make_pipe():
    pipe = ScaledStableDiffusionImg2ImgPipeline(**sd_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_our_decode_and_encode_have_no_graph_breaks():
    pipe = make_pipe()
    vae, scaling = pipe.vae, LatentScaling.from_config(pipe.vae.config)
    latents = torch.randn(2, 4, 8, 8, generator=generator())
    pixels = pipe.image_processor.preprocess(make_pil_images(2, (16, 16)))

    with torch.no_grad():
        decode = torch.compile(lambda z: _vae.decode(vae, scaling.unscale(z), None), backend="eager", fullgraph=True)
        assert torch.equal(decode(latents), vae.decode(latents / vae.config.scaling_factor).sample)
        encode = torch.compile(
            lambda x: scaling.scale(_vae.encode(vae, x, None, "argmax")), backend="eager", fullgraph=True
        )
        expected = vae.encode(pixels).latent_dist.mode() * vae.config.scaling_factor
        assert torch.equal(encode(pixels), expected)


def test_compiled_path_equals_eager_path():
    pipe = make_pipe()
    images = make_pil_images(2, (32, 32), seed=3)
    with torch.no_grad():
        eager_latents = pipe.encode_latents(images, generator=generator(1))
        eager_images = pipe.decode_latents(eager_latents)
        pipe.enable_vae_compile(min_calls=1, backend="eager")
        compiled_latents = pipe.encode_latents(images, generator=generator(1))
        compiled_images = pipe.decode_latents(eager_latents)
    assert torch.equal(compiled_latents, eager_latents)
    assert (compiled_images == eager_images).all()
    compiled = pipe._vae_compile.get(pipe.vae)
    assert compiled.encoder.compiled_shapes and compiled.decoder.compiled_shapes  # the compiled path really ran


def test_rare_shapes_stay_eager_and_compiled_shapes_are_bounded():
    calls = []
    module = torch.nn.Identity()
    wrapped = ShapeCompiledModule(module, min_calls=2, max_shapes=2, backend="eager")
    wrapped.compiled = lambda x: calls.append(tuple(x.shape)) or x  # observe which calls take the compiled graph

    wrapped(torch.zeros(1, 3))
    assert calls == []  # first sight of a shape: eager
    wrapped(torch.zeros(1, 3))
    assert calls == [(1, 3)]  # second: compiled from now on
    for shape in [(2, 3), (2, 3), (3, 3), (3, 3), (3, 3)]:
        wrapped(torch.zeros(shape))
    assert wrapped.compiled_shapes == {
        ((1, 3), torch.float32, torch.device("cpu")),
        ((2, 3), torch.float32, torch.device("cpu")),
    }
    assert (3, 3) not in calls  # over `max_shapes`: eager


def test_slicing_tiling_and_other_vaes_use_the_vae_itself():
    pipe = make_pipe()
    assert CompiledAutoencoderKL.supports(pipe.vae)
    pipe.vae.enable_slicing()
    assert not CompiledAutoencoderKL.supports(pipe.vae)
    pipe.vae.disable_slicing()
    pipe.vae.enable_tiling()
    assert not CompiledAutoencoderKL.supports(pipe.vae)
    pipe.enable_vae_compile(backend="eager")
    assert pipe._compiled(pipe.vae) is None
    pipe.disable_vae_compile()
    assert pipe._vae_compile is None


def test_compiled_path_of_an_upcast_float16_vae_follows_its_weights():
    # SDXL's `force_upcast`: the compiled encoder and decoder run with the float32 tensors cast for each call, so they
    # give the eager upcast results, also after the weights change in place.
    def sdxl_fp16():
        pipe = ScaledStableDiffusionXLImg2ImgPipeline(**sdxl_components())
        pipe.vae.to(torch.float16)
        assert pipe.vae.config.force_upcast and pipe.honour_force_upcast
        return pipe

    compiled, eager = sdxl_fp16(), sdxl_fp16()
    compiled.enable_vae_compile(min_calls=1, backend="eager")
    images = make_pil_images(2, (32, 32), seed=3)
    latents = torch.randn(2, 4, 16, 16, generator=generator(2))
    with torch.no_grad():
        for step in range(2):
            if step:
                for pipe in (compiled, eager):
                    for parameter in pipe.vae.parameters():
                        parameter.data.mul_(0.75)
            assert torch.equal(
                compiled.encode_latents(images, generator(1)), eager.encode_latents(images, generator(1))
            )
            assert torch.equal(compiled.decode_latents(latents, "pt"), eager.decode_latents(latents, "pt"))
    state = compiled._vae_compile.get(compiled.vae)
    assert state.encoder.compiled_shapes and state.decoder.compiled_shapes  # the compiled path really ran
    assert compiled.vae.dtype == torch.float16
