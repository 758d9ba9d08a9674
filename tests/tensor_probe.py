"""A probe of the tensors torch operations produce, for tests of blocked computations."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class LargestOutput(TorchDispatchMode):
    """The largest tensor any single torch operation produced while active, in elements and in
    bytes: how a test shows a blocked computation never builds the whole thing."""

    def __init__(self) -> None:
        super().__init__()
        self.largest_elements = 0
        self.largest_bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(tensor, torch.Tensor):
                self.largest_elements = max(self.largest_elements, tensor.numel())
                self.largest_bytes = max(self.largest_bytes, tensor.numel() * tensor.element_size())
        return out
