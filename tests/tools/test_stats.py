import torch

from diffusers_scaled.tools._stats import RunningMoments, RunningScalar


def _two_pass(values: torch.Tensor):
    """Reference: per-channel and pooled mean/std of all values at once, two-pass in float64."""
    per_channel = values.to(torch.float64).transpose(0, 1).reshape(values.shape[1], -1)
    mean = per_channel.mean(dim=1)
    std = ((per_channel - mean[:, None]) ** 2).mean(dim=1).sqrt()
    flat = per_channel.flatten()
    return mean, std, flat.mean().item(), ((flat - flat.mean()) ** 2).mean().sqrt().item()


def test_streaming_equals_two_pass_float64_whatever_the_batches():
    torch.manual_seed(0)
    # An offset and a large scale make the naive sum-of-squares formula lose digits; Welford/Chan must not.
    values = torch.randn(37, 4, 5, 3) * torch.tensor([1.0, 3.0, 0.1, 10.0])[None, :, None, None] + 1000.0
    mean, std, pooled_mean, pooled_std = _two_pass(values)
    for sizes in ([37], [1] * 37, [5, 1, 20, 11], [36, 1]):
        moments = RunningMoments.empty(4)
        for batch in values.split(sizes):
            moments = moments.update(batch)
        # Float64 rounding of the merge formula only: relative 1e-12 is ~4000 ulps of slack.
        torch.testing.assert_close(moments.mean, mean, rtol=1e-12, atol=0)
        torch.testing.assert_close(moments.channel_std(), std, rtol=1e-12, atol=0)
        got_mean, got_std = moments.pooled()
        assert abs(got_mean - pooled_mean) <= 1e-12 * abs(pooled_mean)
        assert abs(got_std - pooled_std) <= 1e-10 * pooled_std  # pooled std of values ~1000 apart: cancellation
        assert moments.num_values == values.numel()


def test_merge_is_deterministic_and_empty_is_neutral():
    torch.manual_seed(1)
    a, b = RunningMoments.of_batch(torch.randn(3, 2, 4, 4)), RunningMoments.of_batch(torch.randn(5, 2, 4, 4))
    first, second = a.merge(b), a.merge(b)
    assert torch.equal(first.to_tensor(), second.to_tensor())
    assert torch.equal(RunningMoments.empty(2).merge(a).to_tensor(), a.to_tensor())
    assert torch.equal(a.merge(RunningMoments.empty(2)).to_tensor(), a.to_tensor())
    assert torch.equal(RunningMoments.from_tensor(first.to_tensor()).to_tensor(), first.to_tensor())


def test_running_scalar_matches_sample_std():
    values = [0.5, 2.0, -1.0, 4.0, 3.5]
    running = RunningScalar()
    for v in values:
        running.update(v)
    reference = torch.tensor(values, dtype=torch.float64)
    assert abs(running.mean - reference.mean().item()) < 1e-15
    assert abs(running.std - reference.std().item()) < 1e-14
