"""Random tensors regenerated from a seed: what random-basis methods store instead of bases.

Values come from a ``torch.Generator`` on the *generator device* (``rng``): ``"cpu"`` gives the
same numbers on every machine and moves them to where they are used; ``"cuda"`` draws on the GPU
(much faster there) and can only be replayed on a CUDA device. The artifact records which one
was used, so reconstruction replays exactly the training-time numbers.

:class:`SeededBasis` is a set of ``count`` random vectors per row, combined with trained
coefficients. With ``keep=False`` (NOLA's GPT-2 code) the bases are drawn row by row in the
forward pass and drawn again in the backward pass, never held; ``keep=True`` draws them once and
holds ``rows × count × size`` floats (PRANC's default at small scale), trading memory for the
repeated draws. Both paths compute each output row with the same operation, so they agree
bit for bit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import torch

RNG_DEVICES = ("cpu", "cuda")


def derive_seed(seed: int, *path: object) -> int:
    """A 63-bit seed for the random tensor at ``path`` (layer name, row, role) under ``seed``."""
    digest = hashlib.blake2b(repr((int(seed), *path)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def rng_for(device: torch.device | str) -> str:
    """The generator device a run on ``device`` draws with: on the GPU where there is one."""
    return "cuda" if torch.device(device).type == "cuda" else "cpu"


def check_rng(rng: str, device: torch.device | str) -> None:
    if rng not in RNG_DEVICES:
        raise ValueError(f"unknown generator device {rng!r}; expected one of {RNG_DEVICES}")
    if rng == "cuda" and torch.device(device).type != "cuda":
        raise RuntimeError(
            "this artifact's random bases were drawn by a CUDA generator, so its weights can only be "
            f"rebuilt on a CUDA device (asked for {device}); train with the cpu generator for artifacts "
            "that rebuild anywhere"
        )


def _seeded(sample, shape: tuple[int, ...], seed: int, device: torch.device | str, rng: str) -> torch.Tensor:
    """``sample`` (torch.rand or torch.randn) of ``shape`` from a generator on ``rng`` seeded ``seed``."""
    check_rng(rng, device)
    return sample(shape, generator=torch.Generator(device=rng).manual_seed(seed), device=rng)


def uniform(shape: tuple[int, ...], seed: int, device: torch.device | str, rng: str = "cpu") -> torch.Tensor:
    """U(−1, 1) values of ``shape`` drawn from ``seed`` on the ``rng`` device, placed on ``device``."""
    return _seeded(torch.rand, shape, seed, device, rng).mul_(2).sub_(1).to(device)


def normal(shape: tuple[int, ...], seed: int, device: torch.device | str, rng: str = "cpu", std: float = 1.0) -> torch.Tensor:
    """N(0, std²) values of ``shape`` drawn from ``seed`` on the ``rng`` device, placed on ``device``."""
    return _seeded(torch.randn, shape, seed, device, rng).mul_(std).to(device)


class SeededBasis:
    """``rows`` independent sets of ``count`` random vectors of ``size`` values, U(−1, 1)·scale.

    ``combine(c)`` with coefficients ``c`` of shape (rows, count) gives (rows, size): row ``n`` is
    Σ_i c[n, i] · basis[n, i]. Row ``n``'s basis is drawn from ``derive_seed(seed, n)``.
    """

    def __init__(self, seed: int, rows: int, count: int, size: int, scale: float, rng: str = "cpu",
                 keep: bool = False, group_elements: int = 2**22) -> None:
        self.seed, self.rows, self.count, self.size = seed, rows, count, size
        self.scale, self.rng, self.keep = scale, rng, keep
        # rows combined per batched matmul: a function of the shapes only, so the same rows are
        # grouped (and summed in the same order) at training and at reconstruction
        self.group = max(1, group_elements // max(1, count * size))
        self._kept: dict[str, list[torch.Tensor]] = {}

    @property
    def random_values(self) -> int:
        """How many random numbers one full draw takes (what reconstruction must generate)."""
        return self.rows * self.count * self.size

    def _draw(self, start: int, stop: int, device: torch.device) -> torch.Tensor:
        rows = [uniform((self.count, self.size), derive_seed(self.seed, n), device, self.rng) for n in range(start, stop)]
        return torch.stack(rows).mul_(self.scale)

    def groups(self, device: torch.device) -> Iterator[tuple[int, int, torch.Tensor]]:
        """(start, stop, bases of rows start..stop as (rows, count, size)), kept or drawn anew."""
        key = str(device)
        if self.keep and key in self._kept:
            bounds = range(0, self.rows, self.group)
            yield from ((s, min(s + self.group, self.rows), b) for s, b in zip(bounds, self._kept[key]))
            return
        kept = []
        for start in range(0, self.rows, self.group):
            stop = min(start + self.group, self.rows)
            bases = self._draw(start, stop, device)
            if self.keep:
                kept.append(bases)
            yield start, stop, bases
        if self.keep:
            self._kept[key] = kept

    def combine(self, coefficients: torch.Tensor) -> torch.Tensor:
        """(rows, count) coefficients → (rows, size); differentiable in the coefficients."""
        if coefficients.shape != (self.rows, self.count):
            raise ValueError(f"expected coefficients of shape {(self.rows, self.count)}, got {tuple(coefficients.shape)}")
        return _Combine.apply(coefficients, self)

    def _forward(self, coefficients: torch.Tensor) -> torch.Tensor:
        out = coefficients.new_empty(self.rows, self.size)
        for start, stop, bases in self.groups(coefficients.device):
            out[start:stop] = torch.bmm(coefficients[start:stop].unsqueeze(1), bases).squeeze(1)
        return out

    def _project(self, grad: torch.Tensor) -> torch.Tensor:
        out = grad.new_empty(self.rows, self.count)
        for start, stop, bases in self.groups(grad.device):
            out[start:stop] = torch.bmm(bases, grad[start:stop].unsqueeze(2)).squeeze(2)
        return out


class _Combine(torch.autograd.Function):
    """Σ c·basis whose backward draws the bases again (or reads the kept ones) instead of
    saving them: autograd holds only the coefficients."""

    @staticmethod
    def forward(ctx, coefficients: torch.Tensor, basis: SeededBasis) -> torch.Tensor:
        ctx.basis = basis
        return basis._forward(coefficients)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return ctx.basis._project(grad.contiguous()), None
