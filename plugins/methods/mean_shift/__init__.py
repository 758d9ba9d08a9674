"""``byol``, ``msf``, ``cmsf``, ``cmsf-sup``, ``cmsf-semi``, ``cmsf-xmodal``: self-, semi- and
supervised representation learning by (constrained) mean shift, one training loop
(``ucdbench_plugins.shared.mean_shift``) with a different neighbour rule each."""

from ucdbench import hookimpl

_METHODS = {
    "byol": ("Byol", "BYOL-asym: regress the online prediction to its own EMA target (MSF with k = 1)"),
    "msf": ("MeanShift", "MSF: regress to the k nearest target embeddings in a memory bank"),
    "cmsf": ("ConstrainedMeanShift", "CMSF: neighbours among the 2Q or same-k-means-cluster candidates"),
    "cmsf-sup": ("SupervisedCMSF", "supervised CMSF: neighbours of the same (possibly noisy) label"),
    "cmsf-semi": ("SemiSupervisedCMSF", "semi-supervised CMSF: neighbours of the same confident pseudo-label"),
    "cmsf-xmodal": ("CrossModalCMSF", "cross-modal CMSF: candidates from a frozen encoder of another modality"),
}


@hookimpl
def ucdbench_register_methods(register):
    for name, (cls, summary) in _METHODS.items():
        register(name, f"ucdbench_plugins.methods.mean_shift.method:{cls}", summary=summary)
