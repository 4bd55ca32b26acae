"""Properties of `LatentScaling` over random configs, dtypes and shapes (hypothesis).

1. `unscale(scale(z))` gives `z` back within the rounding of the dtype, with a bound derived from the operations (below);
2. per-channel statistics apply along dimension 1 and only there: a tensor whose dimension 1 is not the channel count
   raises, whatever its other dimensions are, and each channel is transformed by its own statistics.

The round-trip bound. With unit roundoff `u` (half the dtype's machine epsilon), each floating-point operation returns
the exact result times `(1 + d)`, `|d| <= u`. The per-channel chain is `((z - m) * s) / sd`, then `((y * sd) / s) + m`:
the scalar `s` is converted to the compute type (one rounding) and a division by a scalar may run as a multiplication by
its reciprocal (one more). Writing `P` for the product of the `k` factors `(1 + d)` met between the subtraction and the
addition, the result is `x = ((z - m) * P + m) * (1 + d_last)`, so

    |x - z| <= ((1 + u)^k - 1) * |z - m| + u * |z|,   and   (1 + u)^k - 1 <= k * u * (1 + 2 * k * u)

with `k = 7` for per-channel statistics (subtract, multiply, divide, multiply, divide as reciprocal and multiply, plus
the conversion of `s`), `k = 5` for a shift and `k = 4` for a plain factor (`m = 0`); `m` is the mean or shift as
rounded to the dtype, the value the arithmetic really uses. Results that fall below the dtype's normal range lose the
relative guarantee; they add at most half a subnormal step per operation, amplified by the factors that follow (the
`subnormal` term). Overflow is excluded by drawing values whose every intermediate fits the dtype.
"""

from __future__ import annotations

import math
import os

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diffusers_scaled import LatentScaling


DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

factors = st.floats(0.05, 20.0).flatmap(lambda f: st.sampled_from([f, -f]))
shifts = st.floats(-3.0, 3.0)
stds = st.floats(0.25, 4.0)


@st.composite
def configs(draw, channels: int):
    kind = draw(st.sampled_from(["plain", "shift", "per-channel"]))
    scaling_factor = draw(factors)
    if kind == "plain":
        return kind, LatentScaling(scaling_factor)
    if kind == "shift":
        return kind, LatentScaling(scaling_factor, shift_factor=draw(shifts))
    mean = draw(st.lists(shifts, min_size=channels, max_size=channels))
    std = draw(st.lists(stds, min_size=channels, max_size=channels))
    return kind, LatentScaling(scaling_factor, latents_mean=mean, latents_std=std)


@st.composite
def shapes(draw):
    rank = draw(st.sampled_from([4, 5]))  # images (B, C, H, W) and video (B, C, F, H, W)
    return tuple(draw(st.integers(1, 4)) for _ in range(rank))


def latents_like(shape, dtype, seed, magnitude):
    z = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * magnitude
    return z.to(dtype)


def round_trip_bound(kind: str, scaling: LatentScaling, z: torch.Tensor) -> torch.Tensor:
    dtype, channels = z.dtype, z.shape[1]
    info = torch.finfo(dtype)
    u = info.eps / 2
    z64 = z.double()
    if kind == "per-channel":
        view = [1, channels] + [1] * (z.ndim - 2)
        m = torch.tensor(scaling.latents_mean).to(dtype).double().view(view)
        sd = torch.tensor(scaling.latents_std).to(dtype).double()
        k, amplification = (
            7,
            max(1.0, 1 / abs(scaling.scaling_factor), abs(scaling.scaling_factor))
            * max(1.0, sd.max().item(), 1 / sd.min().item()),
        )
    elif kind == "shift":
        m = torch.tensor(scaling.shift_factor, dtype=torch.float64)
        k, amplification = 5, max(1.0, 1 / abs(scaling.scaling_factor), abs(scaling.scaling_factor))
    else:
        m = torch.tensor(0.0, dtype=torch.float64)
        k, amplification = 4, max(1.0, 1 / abs(scaling.scaling_factor), abs(scaling.scaling_factor))
    # (1 + u)^k - 1 <= k u (1 + 2 k u) for k u < 1/2; written so, since 1 + u rounds to 1 in float64 itself.
    relative = k * u * (1 + 2 * k * u) * (z64 - m).abs() + u * z64.abs()
    subnormal = k * amplification**2 * info.tiny * info.eps / 2
    return relative + subnormal


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@SETTINGS
@given(data=st.data(), shape=shapes(), seed=st.integers(0, 2**16), magnitude=st.floats(1e-3, 8.0))
def test_unscale_inverts_scale_within_dtype_rounding(dtype, data, shape, seed, magnitude):
    kind, scaling = data.draw(configs(shape[1]))
    z = latents_like(shape, dtype, seed, magnitude)
    scaled = scaling.scale(z)
    assert scaled.dtype == dtype and scaled.shape == z.shape
    back = scaling.unscale(scaled)
    assert back.dtype == dtype and back.shape == z.shape
    assert torch.isfinite(scaled).all()  # drawn ranges keep every intermediate inside the dtype
    error = (back.double() - z.double()).abs()
    bound = round_trip_bound(kind, scaling, z)
    assert (error <= bound).all(), f"{kind} {dtype}: error {error.max():.3g} > bound at the worst element"


def test_bound_is_tight_enough_to_catch_a_wrong_inverse():
    # The bound is not vacuous: an inverse whose factor is off by 2e-6 relative (34 float32 roundoffs) breaks it.
    scaling = LatentScaling(0.18215, latents_mean=[0.5] * 4, latents_std=[2.0] * 4)
    wrong = LatentScaling(0.18215 * (1 + 2e-6), latents_mean=[0.5] * 4, latents_std=[2.0] * 4)
    z = latents_like((2, 4, 8, 8), torch.float32, 0, 4.0)
    error = (wrong.unscale(scaling.scale(z)).double() - z.double()).abs()
    assert not (error <= round_trip_bound("per-channel", scaling, z)).all()


@SETTINGS
@given(
    channels=st.integers(1, 6),
    shape=shapes(),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_per_channel_statistics_apply_on_dimension_1_only(channels, shape, seed, data):
    _, scaling = data.draw(configs(channels).filter(lambda c: c[0] == "per-channel"))
    z = latents_like(shape, torch.float32, seed, 2.0)
    if shape[1] != channels:
        # Whatever the other dimensions are (one may equal the channel count), no silent broadcast over them.
        for method in (scaling.scale, scaling.unscale):
            with pytest.raises(ValueError, match=f"must have {channels} channels on dimension 1"):
                method(z)
        return
    scaled, unscaled = scaling.scale(z), scaling.unscale(z)
    for j in range(channels):
        # Channel j, alone, with its own statistics: the same elementwise operations, so bitwise the same values.
        alone = LatentScaling(
            scaling.scaling_factor, latents_mean=[scaling.latents_mean[j]], latents_std=[scaling.latents_std[j]]
        )
        assert torch.equal(scaled[:, j : j + 1], alone.scale(z[:, j : j + 1]))
        assert torch.equal(unscaled[:, j : j + 1], alone.unscale(z[:, j : j + 1]))


@SETTINGS
@given(channels=st.integers(2, 6), other=st.integers(1, 6), data=st.data())
def test_channels_last_latents_are_refused_even_when_a_dimension_matches(channels, other, data):
    _, scaling = data.draw(configs(channels).filter(lambda c: c[0] == "per-channel"))
    # (B, H, W, C): the channel count sits on the last axis, where broadcasting would silently apply the statistics.
    z = torch.zeros(1, other if other != channels else channels + 1, 3, channels)
    with pytest.raises(ValueError, match=r"on dimension 1"):
        scaling.scale(z)


def test_derived_unit_roundoffs():
    # The `u` the bound uses: 2^-24, 2^-11, 2^-8, 2^-53.
    assert [torch.finfo(d).eps / 2 for d in DTYPES] == [2**-24, 2**-11, 2**-8, 2**-53]
    for k in (4, 5, 7):  # the closed form used for (1 + u)^k - 1 is an upper bound, and a close one
        for u in (2**-24, 2**-11, 2**-8):
            exact = math.expm1(k * math.log1p(u))
            assert exact <= k * u * (1 + 2 * k * u) <= exact * (1 + 2 * k * u)


def test_docs_state_the_number_of_examples():
    with open(os.path.join(os.path.dirname(__file__), os.pardir, "docs", "reliability.md"), encoding="utf-8") as f:
        assert f"{SETTINGS.max_examples} examples per property and dtype" in f.read()
