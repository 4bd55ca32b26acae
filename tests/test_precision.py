"""Precision and placement: `force_upcast` without touching the shared VAE, bfloat16 never upcast, the float16
overflow policy, threads sharing one pipeline, and accelerate's offload hooks.

CPU only: float16 and bfloat16 convolutions run on CPU (slowly, so the models are tiny). On a GPU the same code runs
in the same dtypes; docs/latent-spaces.md records what was checked there.
"""

import copy
import threading

import numpy as np
import pytest
import torch
from _compare import assert_equals_stock_upcast
from accelerate import cpu_offload
from accelerate.hooks import AlignDevicesHook, add_hook_to_module
from fixtures import (
    PROMPT,
    generator,
    make_pil_images,
    sd_components,
    sdxl_components,
    tiny_vae_kl,
    tiny_vae_tiny,
    tiny_vae_vq,
)

from diffusers_scaled import ScaledStableDiffusionPipeline, ScaledStableDiffusionXLPipeline, _vae


SIZE = 32


def make(pipeline_class, components):
    pipe = pipeline_class(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def sdxl_fp16_upcast():
    pipe = make(ScaledStableDiffusionXLPipeline, sdxl_components())
    pipe.vae.to(torch.float16)
    pipe.vae.register_to_config(force_upcast=True)
    return pipe


def latents_batch(n, seed=0):
    return torch.randn(n, 4, SIZE // 2, SIZE // 2, generator=generator(seed))


def weights(vae):
    return {name: (t.dtype, t.data_ptr()) for name, t in vae.state_dict().items()}


# force_upcast and the shared VAE ------------------------------------------------------------------------------------


def test_force_upcast_leaves_the_shared_vae_alone():
    # The VAE's own modules compute in float32 during the call and hold their float16 tensors again afterwards.
    pipe = sdxl_fp16_upcast()
    before = weights(pipe.vae)
    dtypes_seen = []
    handle = pipe.vae.decoder.register_forward_pre_hook(lambda m, args: dtypes_seen.append(m.conv_in.weight.dtype))
    with torch.no_grad():
        images = pipe.decode_latents(latents_batch(1), output_type="pt")
    handle.remove()
    with torch.no_grad():
        pipe.encode_latents(make_pil_images(1, (SIZE, SIZE)), generator=generator())
    assert dtypes_seen == [torch.float32]
    assert weights(pipe.vae) == before  # same float16 tensors, same storage
    assert images.dtype == torch.float32


def stock_sdxl(pipe, output_type, size=SIZE, **kwargs):
    """The stock SDXL `__call__` at `size`: with `output_type="latent"` its latents (the VAE untouched: they do not
    depend on the VAE's state), with `"np"` its decoded images (the VAE upcast in place by the stock code, and converted
    back). Each test runs only the calls it compares with."""
    inputs = {"prompt": PROMPT, "num_inference_steps": 2, "height": size, "width": size, **kwargs}
    return pipe(**inputs, generator=generator(), output_type=output_type).images


def test_upcast_follows_weights_changed_in_place_through_data():
    # Fine-tuning and LoRA-fusing code writes weights through `.data`, which changes neither the tensor's storage nor
    # its version counter: each call must still compute with the weights the VAE holds now, as the stock path does.
    pipe = sdxl_fp16_upcast()
    latents = stock_sdxl(pipe, "latent")
    with torch.no_grad():
        before = pipe.decode_latents(latents)
        for parameter in pipe.vae.decoder.parameters():
            parameter.data.mul_(0.5)
        ours = pipe.decode_latents(latents)
    stock = stock_sdxl(pipe, "np")
    assert not np.array_equal(ours, before)  # the change matters
    assert_equals_stock_upcast(ours, stock)


def test_upcast_follows_tiling_switched_on_after_the_first_call():
    # 64x64 images: 32x32 latents, over the tiny VAE's 16x16 latent tile, so the tiled decode is a different
    # computation (blended tile seams).
    pipe = sdxl_fp16_upcast()
    latents, untiled = stock_sdxl(pipe, "latent", size=2 * SIZE), stock_sdxl(pipe, "np", size=2 * SIZE)
    with torch.no_grad():
        assert_equals_stock_upcast(pipe.decode_latents(latents), untiled)
        pipe.vae.enable_tiling()
        tiled = pipe.decode_latents(latents)
    stock_tiled = stock_sdxl(pipe, "np", size=2 * SIZE)
    assert not np.array_equal(stock_tiled, untiled)  # tiling matters here
    assert_equals_stock_upcast(tiled, stock_tiled)
    pipe.vae.disable_tiling()
    with torch.no_grad():
        assert_equals_stock_upcast(pipe.decode_latents(latents), untiled)


def test_upcast_follows_slicing_and_hooks_added_after_the_first_call():
    pipe = sdxl_fp16_upcast()
    latents = stock_sdxl(pipe, "latent", num_images_per_prompt=2)
    with torch.no_grad():
        pipe.decode_latents(latents)
    pipe.vae.enable_slicing()
    batches = []
    handle = pipe.vae.decoder.register_forward_pre_hook(lambda m, args: batches.append(args[0].shape[0]))
    with torch.no_grad():
        ours = pipe.decode_latents(latents)
    handle.remove()
    stock = stock_sdxl(pipe, "np", num_images_per_prompt=2)
    assert batches == [1, 1]  # the VAE's own decoder, one image at a time
    assert_equals_stock_upcast(ours, stock)


def test_eight_threads_on_one_pipeline_equal_sequential_calls():
    # The stock SDXL path converts the shared VAE to float32 and back around each call, so concurrent calls race on
    # its dtype. Ours never modify it: eight threads decoding different latents get exactly the sequential results.
    pipe = sdxl_fp16_upcast()
    inputs = [latents_batch(1, seed) for seed in range(8)]
    with torch.no_grad():
        sequential = [pipe.decode_latents(x) for x in inputs]
    results, errors = [None] * 8, []
    barrier = threading.Barrier(8)

    def work(i):
        try:
            barrier.wait()
            with torch.no_grad():
                results[i] = pipe.decode_latents(inputs[i])
        except Exception as e:  # collected, so that the test reports it instead of a silent thread death
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(np.array_equal(r, s) for r, s in zip(results, sequential))
    assert pipe.vae.dtype == torch.float16


def test_bfloat16_is_never_upcast():
    pipe = make(ScaledStableDiffusionXLPipeline, sdxl_components())
    pipe.vae.to(torch.bfloat16)
    pipe.vae.register_to_config(force_upcast=True)
    assert pipe.honour_force_upcast
    assert not _vae.needs_upcast(pipe.vae, pipe.honour_force_upcast)
    latents = latents_batch(1)
    with torch.no_grad():
        ours = pipe.decode_latents(latents, output_type="pt")
        # the stock SDXL decode for a bfloat16 VAE: no upcast (`needs_upcasting` checks float16 only)
        raw = latents.to(torch.bfloat16) / pipe.vae.config.scaling_factor
        stock = pipe.image_processor.postprocess(pipe.vae.decode(raw, return_dict=False)[0], output_type="pt")
    assert ours.dtype == torch.bfloat16
    assert torch.equal(ours, stock)


# float16 overflow ----------------------------------------------------------------------------------------------------


def overflowing_fp16_pipe(part):
    """An SD pipeline (which does not upcast) whose float16 VAE overflows in `part` ("decoder" or "encoder") while
    it does not in float32: the first convolution's weights are scaled up to float16's limit (still finite)."""
    components = sd_components()
    with torch.no_grad():
        weight = getattr(components["vae"], part).conv_in.weight
        weight.mul_(60000 / weight.abs().max())
    pipe = make(ScaledStableDiffusionPipeline, components)
    pipe.vae.to(torch.float16)
    assert not pipe.honour_force_upcast
    return pipe


def test_float16_decode_overflow_is_retried_in_float32(caplog):
    pipe = overflowing_fp16_pipe("decoder")
    latents = latents_batch(2)
    with torch.no_grad():
        raw = pipe.latent_scaling.unscale(latents.to(torch.float16))
        assert not torch.isfinite(pipe.vae.decode(raw).sample).all()  # what the stock decode gives: NaN/inf
        ours = pipe.decode_latents(latents, output_type="pt")
        float32_vae = copy.deepcopy(pipe.vae).float()
        expected = float32_vae.decode(raw.float()).sample.to(torch.float16)
    assert "force_upcast" in caplog.text
    assert ours.dtype == torch.float16 and torch.isfinite(ours).all()
    assert torch.equal(ours, pipe.image_processor.postprocess(expected, output_type="pt"))
    assert pipe.vae.dtype == torch.float16


def test_float16_encode_overflow_is_retried_in_float32_from_the_same_generator_state(caplog):
    pipe = overflowing_fp16_pipe("encoder")
    float32_pipe = make(ScaledStableDiffusionPipeline, {**pipe.components, "vae": copy.deepcopy(pipe.vae).float()})
    images = make_pil_images(2, (SIZE, SIZE))
    with torch.no_grad():
        pixels = pipe.image_processor.preprocess(images).to(torch.float16)
        assert not torch.isfinite(pipe.vae.encode(pixels).latent_dist.mean).all()  # the stock encode: NaN/inf
        ours = pipe.encode_latents(images, generator=generator(3))
        expected = float32_pipe.encode_latents(images, generator=generator(3), dtype=torch.float16)
    assert "force_upcast" in caplog.text
    assert torch.isfinite(ours).all()
    assert torch.equal(ours, expected)


def test_float16_without_overflow_is_not_retried(caplog):
    pipe = make(ScaledStableDiffusionPipeline, sd_components())
    pipe.vae.to(torch.float16)
    latents = latents_batch(1)
    with torch.no_grad():
        ours = pipe.decode_latents(latents, output_type="pt")
        raw = pipe.latent_scaling.unscale(latents.to(torch.float16))
        stock = pipe.image_processor.postprocess(pipe.vae.decode(raw).sample, output_type="pt")
    assert "overflowed" not in caplog.text
    assert ours.dtype == torch.float16 and torch.equal(ours, stock)


# offloading and placement -----------------------------------------------------------------------------------------


def test_execution_device_is_the_offload_hooks_device():
    # With offloading the weights sit on the CPU or the meta device; inputs must go where the hook runs the module.
    # A hook that names a CUDA device is enough to check the choice, with or without a GPU.
    vae = tiny_vae_kl()
    assert _vae.placement(vae)[0] == torch.device("cpu")
    add_hook_to_module(vae, AlignDevicesHook(execution_device=torch.device("cuda:0")))
    assert _vae.placement(vae)[0] == torch.device("cuda:0")


def _diffusers_placement(vae):
    # What the stock code reads: diffusers' own execution-device function (accelerate's hooks only, before 0.36) and
    # `vae.dtype`.
    try:
        from diffusers.utils.torch_utils import get_module_execution_device
    except ImportError:
        device = next((m._hf_hook.execution_device for m in vae.modules() if hasattr(m, "_hf_hook")), None)
        device = torch.device(device) if device is not None else vae.device
    else:
        device = get_module_execution_device(vae)
    return device, vae.dtype


class _Wrapped(torch.nn.Module):  # not a ModelMixin: no `device` / `dtype` of diffusers' making
    def __init__(self):
        super().__init__()
        self.inner = tiny_vae_kl()

    device = property(lambda self: torch.device("cpu"))
    dtype = property(lambda self: torch.bfloat16)


def _placement_cases():
    plain = [
        ("float32", tiny_vae_kl()),
        ("float16", tiny_vae_kl().to(torch.float16)),
        ("bfloat16", tiny_vae_kl().to(torch.bfloat16)),
        ("tiny", tiny_vae_tiny()),
        ("vq", tiny_vae_vq()),
    ]
    keep = tiny_vae_kl().to(torch.float16)
    keep._keep_in_fp32_modules = ["encoder.conv_in"]  # its first parameter stays float32; the VAE is float16
    keep.encoder.conv_in.to(torch.float32)
    plain.append(("keep_in_fp32", keep))

    nested_hook = tiny_vae_kl()
    add_hook_to_module(nested_hook.decoder.mid_block, AlignDevicesHook(execution_device=torch.device("cuda:0")))
    layerwise = tiny_vae_kl()
    layerwise.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
    hooked = [("nested_accelerate_hook", nested_hook), ("layerwise_casting", layerwise)]
    if _vae._diffusers_execution_device is not None:  # diffusers >= 0.36: group offloading's onload device counts
        group = tiny_vae_kl()
        group.enable_group_offload(  # a CUDA onload device is only recorded until a forward pass
            onload_device=torch.device("cuda"),
            offload_device=torch.device("cpu"),
            offload_type="block_level",
            num_blocks_per_group=1,
        )
        hooked.append(("group_offload", group))
    return plain, hooked


def test_placement_is_what_diffusers_reads():
    # `placement` skips diffusers' module walks when no hook can change the answer; every case must give exactly
    # diffusers' answer, and the hooked cases (where the first parameter's device or dtype is not the answer) must be
    # seen as hooked.
    plain, hooked = _placement_cases()
    for name, vae in plain:
        assert not _vae.has_hooks(vae), name
        assert _vae.placement(vae) == _diffusers_placement(vae), name
    for name, vae in hooked:
        assert _vae.has_hooks(vae), name
        assert _vae.placement(vae) == _diffusers_placement(vae), name
        first = next(vae.parameters())
        assert _vae.placement(vae) != (first.device, first.dtype), name  # the case is one the fast path would miss
    assert _vae.placement(_Wrapped()) == (torch.device("cpu"), torch.bfloat16)


def test_model_cpu_offload_gives_the_same_results():
    pipe = make(ScaledStableDiffusionXLPipeline, sdxl_components())
    reference = make(ScaledStableDiffusionXLPipeline, sdxl_components())
    pipe.enable_model_cpu_offload(device="cpu")
    inputs = {"prompt": PROMPT, "num_inference_steps": 2, "height": SIZE, "width": SIZE}
    latents = pipe(**inputs, generator=generator(), output_type="latent").images
    expected = pipe(**inputs, generator=generator(), output_type="np").images
    images = make_pil_images(1, (SIZE, SIZE))
    with torch.no_grad():
        assert np.array_equal(pipe.decode_latents(latents), expected)
        assert np.array_equal(pipe.decode_latents(latents), reference.decode_latents(latents))
        assert torch.equal(pipe.encode_latents(images, generator()), reference.encode_latents(images, generator()))


def test_upcast_under_model_offload_equals_the_plain_pipeline():
    # The VAE's offload hook links to the UNet's (to offload it when the VAE runs): the upcast call runs the VAE's own
    # hook, as the stock path does, and leaves the pipeline's chain and the VAE's dtype as they were.
    pipe = sdxl_fp16_upcast()
    reference = sdxl_fp16_upcast()
    pipe.enable_model_cpu_offload(device="cpu")
    assert pipe.vae._hf_hook.prev_module_hook.model is pipe.unet
    with torch.no_grad():
        assert np.array_equal(pipe.decode_latents(latents_batch(1)), reference.decode_latents(latents_batch(1)))
    assert pipe.vae._hf_hook.prev_module_hook.model is pipe.unet
    assert pipe.vae.dtype == torch.float16


@pytest.mark.parametrize("decode", [True, False])
def test_upcast_of_an_offloaded_vae(decode):
    # accelerate's `cpu_offload` (what `enable_sequential_cpu_offload` applies per module) keeps the weights on the meta
    # device and loads them at each forward, cast to the dtype of the tensor it replaces: the upcast call's float32
    # ones, so the float16 weights arrive in float32, exactly. (In this environment, accelerate 1.15 with torch 2.13
    # fails to offload a module back to the meta device after its own forward, stock pipelines included.)
    offloaded, reference = sdxl_fp16_upcast(), sdxl_fp16_upcast()
    cpu_offload(offloaded.vae, execution_device=torch.device("cpu"))
    assert next(offloaded.vae.parameters()).device == torch.device("meta")
    with torch.no_grad():
        if decode:
            ours, expected = offloaded.decode_latents(latents_batch(1)), reference.decode_latents(latents_batch(1))
            assert np.array_equal(ours, expected)
        else:
            images = make_pil_images(1, (SIZE, SIZE))
            ours = offloaded.encode_latents(images, generator=generator())
            assert torch.equal(ours, reference.encode_latents(images, generator=generator()))
