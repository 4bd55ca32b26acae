"""The upstream patch against this package and against the unpatched release.

Run only by `upstream/check.py`, which installs the patched diffusers first on `sys.path` and passes the folder of
the pristine release in `DIFFUSERS_STOCK_PATH`:

- the patched `StableDiffusionPipeline.encode_latents` / `decode_latents` (and SD img2img, SDXL, SDXL img2img) equal
  `diffusers_scaled`'s, bitwise, on the same components, inputs and generator state;
- the patched pipelines' outputs (every output type) equal the unpatched ones, bitwise: the reference outputs are
  computed by `_cases.py` in a subprocess that imports the pristine release;
- the patched `decode_latents` returns what the deprecated one returned, without the warning.

Everything runs in float32 on CPU (plus a float16 VAE for the SDXL upcast path), where both sides perform the same
operations in the same order: every comparison is bitwise unless a test says otherwise, and why.
"""

import copy
import os
import subprocess
import sys
import warnings

import _cases
import diffusers
import numpy as np
import pytest
import torch
from fixtures import generator, make_pil_images, sd_components, sdxl_components

from diffusers_scaled import (
    ScaledStableDiffusionImg2ImgPipeline,
    ScaledStableDiffusionPipeline,
    ScaledStableDiffusionXLImg2ImgPipeline,
    ScaledStableDiffusionXLPipeline,
)


STOCK_PATH = os.environ.get("DIFFUSERS_STOCK_PATH")
if not STOCK_PATH or not os.path.isdir(os.path.join(STOCK_PATH, "diffusers")):
    raise RuntimeError(
        "DIFFUSERS_STOCK_PATH must name a folder holding the unpatched diffusers release; got "
        f"{STOCK_PATH!r}. Run these tests through `python upstream/check.py`."
    )
if not hasattr(diffusers, "VaeLatentsMixin"):
    raise RuntimeError(
        f"The imported diffusers ({diffusers.__file__}) is not the patched one: it has no `VaeLatentsMixin`. Run these "
        "tests through `python upstream/check.py`."
    )

SIZE = 32
# (patched stock class, diffusers_scaled class, components factory)
PIPELINES = {
    "sd": (diffusers.StableDiffusionPipeline, ScaledStableDiffusionPipeline, sd_components),
    "sd-img2img": (diffusers.StableDiffusionImg2ImgPipeline, ScaledStableDiffusionImg2ImgPipeline, sd_components),
    "sdxl": (diffusers.StableDiffusionXLPipeline, ScaledStableDiffusionXLPipeline, sdxl_components),
    "sdxl-img2img": (
        diffusers.StableDiffusionXLImg2ImgPipeline,
        ScaledStableDiffusionXLImg2ImgPipeline,
        sdxl_components,
    ),
}
VAE_CONFIGS = {
    "kl": ("kl", {}),
    "tiny": ("tiny", {}),
    "kl-shift": ("kl", {"shift_factor": 0.0609}),
    "kl-latents-mean-std": ("kl", _cases.LATENTS_MEAN_STD),
}


def make_pair(name, vae_config="kl", vae_dtype=torch.float32):
    """The patched stock pipeline and the diffusers_scaled one, on the same component objects."""
    patched_class, scaled_class, factory = PIPELINES[name]
    vae, config = VAE_CONFIGS[vae_config]
    components = factory(vae=vae)
    if config:
        components["vae"].register_to_config(**config)
    components["vae"].to(vae_dtype)
    patched, scaled = patched_class(**components), scaled_class(**components)
    for pipe in (patched, scaled):
        pipe.set_progress_bar_config(disable=True)
    return patched, scaled


def assert_same(a, b):
    if isinstance(a, list):  # PIL
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert x.size == y.size and x.mode == y.mode
            assert np.array_equal(np.asarray(x), np.asarray(y))
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    else:
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


# patched diffusers == diffusers_scaled ------------------------------------------------------------------------------


# Every latent space on SD and SDXL; the img2img pipelines share their decoding, once is enough for them.
@pytest.mark.parametrize(
    "name, vae_config",
    [(name, vae_config) for name in ("sd", "sdxl") for vae_config in VAE_CONFIGS]
    + [("sd-img2img", "kl"), ("sdxl-img2img", "kl")],
)
def test_decode_latents_equals_diffusers_scaled(name, vae_config):
    patched, scaled = make_pair(name, vae_config)
    latents = torch.randn(2, 4, SIZE // 2, SIZE // 2, generator=generator(3))
    for output_type in ("np", "pt", "pil"):
        with torch.no_grad():
            assert_same(
                patched.decode_latents(latents, output_type=output_type),
                scaled.decode_latents(latents, output_type=output_type),
            )
    assert_same(patched.decode_latents(latents), scaled.decode_latents(latents))  # default output_type, no_grad
    assert_same(
        patched.decode_latents(latents, return_dict=True).images,
        scaled.decode_latents(latents, return_dict=True).images,
    )


# `encode_latents` is one code path for every pipeline but for the float16 upcast (tested below): SD and SDXL suffice.
@pytest.mark.parametrize("vae_config", list(VAE_CONFIGS))
@pytest.mark.parametrize("name", ["sd", "sdxl"])
def test_encode_latents_equals_diffusers_scaled(name, vae_config):
    patched, scaled = make_pair(name, vae_config)
    images = make_pil_images(2, (SIZE, SIZE), seed=4)
    cases = [
        {},
        {"generator": "one"},
        {"generator": "list"},
        {"sample_mode": "argmax"},
        {"height": 16, "width": 24, "generator": "one"},
        {"dtype": torch.float16, "generator": "one"},
    ]
    for case in cases:

        def kwargs():
            kw = dict(case)
            if kw.get("generator") == "one":
                kw["generator"] = generator(7)
            elif kw.get("generator") == "list":
                kw["generator"] = [generator(7), generator(8)]
            return kw

        if "generator" not in case:
            torch.manual_seed(5)  # the VAE samples from the global generator
        ours = patched.encode_latents(images, **kwargs())
        if "generator" not in case:
            torch.manual_seed(5)
        theirs = scaled.encode_latents(images, **kwargs())
        assert_same(ours, theirs)


@pytest.mark.parametrize("name", ["sdxl", "sdxl-img2img"])
def test_float16_vae_force_upcast_equals_diffusers_scaled(name):
    patched, scaled = make_pair(name, "kl", vae_dtype=torch.float16)
    assert patched.vae.config.force_upcast
    latents = torch.randn(1, 4, SIZE // 2, SIZE // 2, generator=generator(3))
    images = make_pil_images(1, (SIZE, SIZE), seed=4)

    assert_same(patched.decode_latents(latents), scaled.decode_latents(latents))
    assert patched.vae.dtype == torch.float16
    assert_same(
        patched.encode_latents(images, generator=generator(2)), scaled.encode_latents(images, generator=generator(2))
    )
    assert patched.vae.dtype == torch.float16

    # the upcast matters: without it the float16 decode differs, so the comparison above would see a missing upcast
    no_upcast = copy.deepcopy(patched.vae)
    no_upcast.register_to_config(force_upcast=False)
    other = type(patched)(**{**patched.components, "vae": no_upcast})
    assert not np.array_equal(other.decode_latents(latents), patched.decode_latents(latents))


def test_invalid_arguments_raise_like_diffusers_scaled():
    patched, scaled = make_pair("sd")
    latents = torch.randn(1, 4, 8, 8)
    images = make_pil_images(2, (SIZE, SIZE))
    calls = [
        (ValueError, lambda p: p.decode_latents(latents, output_type="latent")),
        (ValueError, lambda p: p.decode_latents(torch.randn(1, 3, 8, 8))),
        (ValueError, lambda p: p.decode_latents(torch.randn(4, 8, 8))),
        (TypeError, lambda p: p.decode_latents(latents.numpy())),
        (ValueError, lambda p: p.encode_latents(images, sample_mode="mean")),
        (ValueError, lambda p: p.encode_latents(images, generator=[generator(0)])),
        (ValueError, lambda p: p.encode_latents(latents)),
    ]
    for error, call in calls:
        for pipe in (patched, scaled):
            with pytest.raises(error):
                call(pipe)


# patched diffusers == unpatched diffusers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stock_outputs(tmp_path_factory):
    """The outputs of `_cases.run_all()` under the unpatched release, computed in a subprocess."""
    out = str(tmp_path_factory.mktemp("stock") / "outputs.npz")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([STOCK_PATH, os.path.dirname(os.path.abspath(__file__))]))
    script = (
        "import sys, diffusers, _cases, numpy as np\n"
        "assert not hasattr(diffusers, 'VaeLatentsMixin'), diffusers.__file__\n"
        "np.savez(sys.argv[1], **_cases.run_all())\n"
    )
    subprocess.run([sys.executable, "-c", script, out], env=env, check=True)
    with np.load(out) as data:
        return dict(data)


@pytest.fixture(scope="module")
def patched_outputs():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outputs = _cases.run_all()
    # `decode_latents` is no longer deprecated, and the SDXL upcast no longer goes through the deprecated `upcast_vae`
    assert not [w for w in caught if "decode_latents" in str(w.message) or "upcast_vae" in str(w.message)]
    return outputs


@pytest.mark.parametrize("key", _cases.KEYS)
def test_pipeline_outputs_unchanged(key, stock_outputs, patched_outputs):
    assert_same(patched_outputs[key], stock_outputs[key])


@pytest.mark.parametrize("run", [run for run, spec in _cases.RUNS.items() if spec[0] in ("sd", "sd-img2img")])
def test_decode_latents_returns_what_the_deprecated_method_returned(run, stock_outputs, patched_outputs):
    key = f"{run}/decode_latents"
    ours, deprecated = patched_outputs[key], stock_outputs[key]
    assert ours.dtype == deprecated.dtype == np.float32 and ours.shape == deprecated.shape
    # The deprecated method multiplied by `1 / scaling_factor` where the pipelines divide: one rounding apart, so
    # equal to a tolerance only. What the new method returns is bitwise the pipelines' own output:
    np.testing.assert_allclose(ours, deprecated, rtol=0, atol=1e-5)
    assert_same(ours, stock_outputs[f"{run}/np"])
