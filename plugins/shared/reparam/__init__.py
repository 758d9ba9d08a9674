"""Shared machinery of the methods that train a few numbers which generate many weights.

MCNC, NOLA and PRANC (and their ablations) differ only in how their stored coefficients
become weights; everything around that is the same and lives here once:

- :mod:`~ucdbench_plugins.shared.reparam.seeded`: random tensors and random bases regenerated from an
  integer seed (never stored), combined with or without keeping them in memory;
- :mod:`~ucdbench_plugins.shared.reparam.layouts`: what the generated tensors are — the network's own
  parameters (training from scratch) or low-rank adapter factors on chosen matrices, fused
  attention slices included — and how they become dense weights;
- :mod:`~ucdbench_plugins.shared.reparam.method`: the training, artifact and reconstruction common to
  all of them, so each paper's plugin is only its generator;
- :mod:`~ucdbench_plugins.shared.reparam.reconstruction_benchmark`: artifact → dense weights timed for
  every method at equal stored scalars on the same shapes.

This package registers nothing; the plugins that use it do.
"""
