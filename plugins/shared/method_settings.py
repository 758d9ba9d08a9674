"""Settings several built-in methods have, declared once so that they mean and allow the same
thing everywhere; each method gives only its defaults (a value or a ``PerPreset``).

- :func:`training_settings`: those of the harness's training loop (``ucdbench.api.train``:
  AdamW with a cosine decay);
- :func:`low_rank_settings`: a LoRA-style adapter's shape, ΔW = (alpha / rank) · B A;
- :func:`targets_setting`: which layers an adapter adapts.
"""

from __future__ import annotations

from typing import Any

from ucdbench.api import Setting


OPTIMISERS = {
    "adamw": ("peak learning rate of AdamW (cosine decay to 0)", "AdamW's decoupled weight decay"),
    "sgd": ("peak learning rate of SGD with momentum 0.9 (cosine decay over epochs)", "SGD's weight decay (L2)"),
}


def training_settings(*, epochs: Any = None, batch_size: Any = None, lr: Any = None,
                      weight_decay: Any = None, optimiser: str = "adamw") -> dict[str, Setting]:
    """The loop's settings whose default is given (a method declares the others itself, or its
    loop has none: VeRA keeps no weight decay, NOLA's lr may be ``auto``); ``optimiser`` names
    the loop's optimiser in the help (``adamw``: the harness's ``train``; ``sgd``: the
    self-supervised loops of ``plugins/shared/epoch_sgd.py``)."""
    lr_help, decay_help = OPTIMISERS[optimiser]
    declared = {
        "epochs": Setting(epochs, "passes over the training split (a fraction trains part of one)", type=(int, float),
                          minimum=0, exclusive_minimum=True),
        "batch_size": Setting(batch_size, "training samples per optimiser step", minimum=1),
        "lr": Setting(lr, lr_help, minimum=0, exclusive_minimum=True),
        "weight_decay": Setting(weight_decay, decay_help, minimum=0),
    }
    return {name: setting for name, setting in declared.items() if setting.default is not None}


def low_rank_settings(*, rank: Any, alpha: Any) -> dict[str, Setting]:
    """``rank`` and ``alpha`` of an adapter whose ΔW is (alpha / rank) · B A."""
    return {
        "rank": Setting(rank, "rank r of the adapter factors B (out × r) and A (r × in)", minimum=1),
        "alpha": Setting(alpha, "scale of the update: ΔW = (alpha / rank) · B A", type=(int, float), minimum=0,
                         exclusive_minimum=True),
    }


def _layer_names(value: Any) -> str | None:
    if value == "auto" or (isinstance(value, list) and value and all(isinstance(n, str) and n for n in value)):
        return None
    return f"{value!r} is not allowed: expected 'auto' or a non-empty JSON list of layer names, e.g. '[\"q\", \"v\"]'"


def targets_setting(help: str) -> Setting:
    """``"auto"`` (the method's own choice of layers, said in ``help``) or a list of layer names."""
    return Setting("auto", help, choices=("auto",), type=list, check=_layer_names)
