"""CompGS (Compact3D): vector-quantised 3D Gaussian Splatting, and the baselines beside it.

Registration only: torch is imported when a run needs a method.
"""

from ucdbench import hookimpl

_METHODS = {
    "compgs": ("CompGS", "k-means codebooks per attribute with quantisation-aware training, sorted RLE indices"),
    "gs-kmeans-post": ("KMeansPost", "k-means codebooks fitted after training only (no QAT)"),
    "gs-half": ("Half", "every 3DGS parameter in float16"),
    "gs-int8": ("Int8", "3DGS attributes in 8 bits per channel, positions in float16"),
    "gs-uncompressed": ("Uncompressed", "the trained 3DGS scene stored as float32"),
}


@hookimpl
def ucdbench_register_methods(register):
    for name, (attribute, summary) in _METHODS.items():
        register(name, f"ucdbench_plugins.methods.compgs.method:{attribute}", summary=summary)
