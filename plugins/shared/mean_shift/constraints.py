"""Which bank entries a query's neighbours may come from, and the nearest allowed ones.

Neighbours are searched with the *target* embedding's distances to the bank (2 − 2 cos); the
loss then pulls the online *query* towards them (``forward`` of the official modules in
UCDvision/CMSF). A constraint is a (B, M) boolean mask of allowed entries; as in the official
code, disallowed distances are raised to 5 (above the largest possible, 4) before the top-k, so
the k nearest are allowed ones wherever k are allowed.

- :func:`same_group`: the query's group equals the entry's — a label (CMSF-sup), a k-means
  cluster (CMSF-KM) or a confident pseudo-label (CMSF-semi). A query without a group (< 0: an
  unconfident pseudo-label) may take any entry (``Msk[not_conf_idx] = False`` in
  ``semi_supervised/pseudo_cmsf.py``); entries without one (< 0) match no query.
- :func:`nearest_in_other_space`: the k′ nearest of the query in a second embedding space —
  the instance's previous target embedding for CMSF-2Q (``pool`` and ``topkp`` in
  ``train_cmsf_self.py``), a frozen encoder of another modality for the cross-modal variant.
  Entries that have no second embedding yet (never written) are not allowed; the official
  code reads them from the wrong instance (index -1 wraps to the last one).
"""

from __future__ import annotations

import torch

DISALLOWED_DISTANCE = 5.0


def distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared distances 2 − 2⟨a, b⟩ of unit vectors, (len(a), len(b))."""
    return 2 - 2 * a @ b.T


def nearest(dist: torch.Tensor, k: int, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Column indices of the ``k`` smallest distances per row, among ``allowed`` ones where given."""
    if allowed is not None:
        dist = dist.masked_fill(~allowed, DISALLOWED_DISTANCE)
    return dist.topk(k, dim=1, largest=False).indices


def same_group(query_groups: torch.Tensor, bank_groups: torch.Tensor) -> torch.Tensor:
    """Allowed: entries of the query's group; every entry for a query with no group (< 0)."""
    allowed = (query_groups[:, None] == bank_groups[None, :]) & (bank_groups[None, :] >= 0)
    return allowed | (query_groups[:, None] < 0)


def nearest_in_other_space(query_other: torch.Tensor, bank_other: torch.Tensor, bank_valid: torch.Tensor,
                           k_prime: int) -> torch.Tensor:
    """Allowed: the ``k_prime`` entries nearest to the query in the other embedding space
    (valid entries only)."""
    chosen = nearest(distances(query_other, bank_other), k_prime, bank_valid[None, :].expand(len(query_other), -1))
    allowed = torch.zeros(len(query_other), len(bank_other), dtype=torch.bool, device=bank_other.device)
    allowed.scatter_(1, chosen, True)
    return allowed & bank_valid[None, :]
