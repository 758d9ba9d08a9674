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
bit for bit. ``draw`` bounds what one draw holds: a row's bases come in blocks of ``draw`` vectors,
consecutive draws of the row's one generator (PRANC's paper chunks: 10,000 bases × 500,000 values
are 20 GB a row, 1 GB in blocks of 500). On the cpu generator the blocks are the very numbers of
the whole draw, so the output agrees with the unblocked path to rounding (the sum is split by
block); a cuda generator's numbers depend on the draw's size, so an artifact records ``draw``.
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


def uniform_blocks(shape: tuple[int, int], block: int, seed: int, device: torch.device | str,
                   rng: str = "cpu") -> Iterator[tuple[int, int, torch.Tensor]]:
    """(start, stop, rows start..stop of :func:`uniform` ``(shape, seed)``), ``block`` rows at a
    time from one generator: on the cpu generator, exactly the rows of the whole draw."""
    check_rng(rng, device)
    generator = torch.Generator(device=rng).manual_seed(seed)
    for start in range(0, shape[0], block):
        stop = min(start + block, shape[0])
        values = torch.rand((stop - start, shape[1]), generator=generator, device=rng)
        yield start, stop, values.mul_(2).sub_(1).to(device)


def normal(shape: tuple[int, ...], seed: int, device: torch.device | str, rng: str = "cpu", std: float = 1.0) -> torch.Tensor:
    """N(0, std²) values of ``shape`` drawn from ``seed`` on the ``rng`` device, placed on ``device``."""
    return _seeded(torch.randn, shape, seed, device, rng).mul_(std).to(device)


class SeededBasis:
    """``rows`` independent sets of ``count`` random vectors of ``size`` values, U(−1, 1)·scale.

    ``combine(c)`` with coefficients ``c`` of shape (rows, count) gives (rows, size): row ``n`` is
    Σ_i c[n, i] · basis[n, i]. Row ``n``'s basis is drawn from ``derive_seed(seed, n)``, ``draw``
    vectors at a time where ``0 < draw < count`` (else all at once).
    """

    def __init__(self, seed: int, rows: int, count: int, size: int, scale: float, rng: str = "cpu",
                 keep: bool = False, group_elements: int = 2**22, draw: int = 0) -> None:
        self.seed, self.rows, self.count, self.size = seed, rows, count, size
        self.scale, self.rng, self.keep = scale, rng, keep
        self.draw = draw if 0 < draw < count else count
        # rows combined per batched matmul: a function of the shapes only, so the same rows are
        # grouped (and summed in the same order) at training and at reconstruction
        self.group = max(1, group_elements // max(1, count * size))
        self._kept: dict[str, list[torch.Tensor]] = {}

    @property
    def random_values(self) -> int:
        """How many random numbers one full draw takes (what reconstruction must generate)."""
        return self.rows * self.count * self.size

    @property
    def draw_bytes(self) -> int:
        """The float32 bases one draw holds: a group of whole rows, or one block of a row."""
        rows = self.group if self.draw == self.count else 1
        return 4 * min(rows, self.rows) * self.draw * self.size

    def _drawn(self, device: torch.device) -> Iterator[tuple[int, int, int, int, torch.Tensor]]:
        if self.draw == self.count:
            for start in range(0, self.rows, self.group):
                stop = min(start + self.group, self.rows)
                rows = [uniform((self.count, self.size), derive_seed(self.seed, n), device, self.rng)
                        for n in range(start, stop)]
                yield start, stop, 0, self.count, torch.stack(rows).mul_(self.scale)
            return
        for n in range(self.rows):
            blocks = uniform_blocks((self.count, self.size), self.draw, derive_seed(self.seed, n), device, self.rng)
            for first, last, bases in blocks:
                yield n, n + 1, first, last, bases.mul_(self.scale).unsqueeze(0)

    def groups(self, device: torch.device) -> Iterator[tuple[int, int, int, int, torch.Tensor]]:
        """(start, stop, first, last, bases first..last of rows start..stop as (rows, last − first,
        size)), kept or drawn anew; a row's blocks come in order."""
        key = str(device)
        if self.keep and key in self._kept:
            yield from self._kept[key]
            return
        kept = []
        for group in self._drawn(device):
            if self.keep:
                kept.append(group)
            yield group
        if self.keep:
            self._kept[key] = kept

    def combine(self, coefficients: torch.Tensor) -> torch.Tensor:
        """(rows, count) coefficients → (rows, size); differentiable in the coefficients."""
        if coefficients.shape != (self.rows, self.count):
            raise ValueError(f"expected coefficients of shape {(self.rows, self.count)}, got {tuple(coefficients.shape)}")
        return _Combine.apply(coefficients, self)

    def _forward(self, coefficients: torch.Tensor) -> torch.Tensor:
        out = coefficients.new_empty(self.rows, self.size)
        for start, stop, first, last, bases in self.groups(coefficients.device):
            part = torch.bmm(coefficients[start:stop, first:last].unsqueeze(1), bases).squeeze(1)
            if first == 0:
                out[start:stop] = part
            else:
                out[start:stop] += part
        return out

    def _project(self, grad: torch.Tensor) -> torch.Tensor:
        out = grad.new_empty(self.rows, self.count)
        for start, stop, first, last, bases in self.groups(grad.device):
            out[start:stop, first:last] = torch.bmm(bases, grad[start:stop].unsqueeze(2)).squeeze(2)
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
