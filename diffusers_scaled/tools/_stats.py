"""Running per-channel mean and variance in constant memory (Welford / Chan et al. merge, float64 accumulators)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class RunningMoments:
    r"""
    Count, mean and sum of squared deviations (`m2`) per latent channel, in float64.

    `update` adds a batch; `merge` combines two partial results with the pairwise formula of Chan, Golub and LeVeque,
    so the result of a stream is that of one pass over all values up to float64 rounding, whatever the batch sizes.
    Merging is deterministic: the same partial results merged in the same order give bitwise the same result, which is
    what makes a multi-process run equal a single-process one (see `diffusers_scaled.tools._distributed`).
    """

    count: torch.Tensor  # (C,) float64: number of values seen per channel
    mean: torch.Tensor  # (C,) float64
    m2: torch.Tensor  # (C,) float64: sum of squared deviations from the mean

    @classmethod
    def empty(cls, num_channels: int) -> "RunningMoments":
        zeros = torch.zeros(num_channels, dtype=torch.float64)
        return cls(zeros.clone(), zeros.clone(), zeros.clone())

    @classmethod
    def of_batch(cls, latents: torch.Tensor) -> "RunningMoments":
        """The moments of one batch of latents `(batch, channels, ...)`, computed in float64 (two-pass)."""
        values = latents.detach().to("cpu", torch.float64).transpose(0, 1).reshape(latents.shape[1], -1)
        count = torch.full((values.shape[0],), float(values.shape[1]), dtype=torch.float64)
        mean = values.mean(dim=1)
        m2 = ((values - mean[:, None]) ** 2).sum(dim=1)
        return cls(count, mean, m2)

    def merge(self, other: "RunningMoments") -> "RunningMoments":
        """The moments of the union of the two value sets (Chan et al.'s pairwise update)."""
        if other.count.sum() == 0:
            return self
        if self.count.sum() == 0:
            return other
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / count)
        m2 = self.m2 + other.m2 + delta**2 * (self.count * other.count / count)
        return RunningMoments(count, mean, m2)

    def update(self, latents: torch.Tensor) -> "RunningMoments":
        return self.merge(RunningMoments.of_batch(latents))

    def to_tensor(self) -> torch.Tensor:
        """`(3, C)` float64: count, mean, m2 (for gathering across processes)."""
        return torch.stack([self.count, self.mean, self.m2])

    @classmethod
    def from_tensor(cls, tensor: torch.Tensor) -> "RunningMoments":
        return cls(tensor[0].clone(), tensor[1].clone(), tensor[2].clone())

    @property
    def num_values(self) -> int:
        return int(self.count.sum().item())

    def channel_std(self) -> torch.Tensor:
        """Population standard deviation per channel."""
        return torch.sqrt(self.m2 / self.count)

    def pooled(self) -> tuple[float, float]:
        """Mean and population standard deviation over all channels together."""
        total = self.count.sum()
        mean = (self.count * self.mean).sum() / total
        m2 = self.m2.sum() + (self.count * (self.mean - mean) ** 2).sum()
        return mean.item(), math.sqrt((m2 / total).item())


@dataclass
class RunningScalar:
    """Welford's running mean and variance of a stream of numbers (used for batch-to-batch stability)."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def update(self, value: float) -> None:
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (value - self.mean)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else float("nan")
