"""The publications the built-in methods come from (``Method.paper``): each paper's name and a
line of what it does, its venue, its arXiv page (the official repository where no arXiv page is
cited in docs/REPORTED.md) and its official code."""

from ucdbench.api import Paper

MCNC = Paper("MCNC: Manifold-Constrained Reparameterization for Neural Compression", "ICLR 2025",
             "https://arxiv.org/abs/2406.19301",
             code_note="no public code: the implementation follows the paper's text (a frozen sine MLP maps k "
                       "trained numbers per chunk of d weights onto a sphere, scaled by a trained amplitude) and the "
                       "shared random-basis code its baselines PRANC and NOLA run on")
NOLA = Paper("NOLA: Compressing LoRA using Linear Combination of Random Basis", "ICLR 2024",
             "https://arxiv.org/abs/2310.02556", "https://github.com/UCDvision/NOLA")
PRANC = Paper("PRANC: the whole model as a linear combination of random networks", "ICCV 2023",
              "https://github.com/UCDvision/PRANC", "https://github.com/UCDvision/PRANC")
SIMA = Paper("SimA: Simple Softmax-free Attention for Vision Transformers", "WACV 2024",
             "https://arxiv.org/abs/2206.08898", "https://github.com/UCDvision/sima")
COMPGS = Paper("CompGS (first version Compact3D): vector quantisation of 3D Gaussian Splatting", "ECCV 2024",
               "https://arxiv.org/abs/2311.18159", "https://github.com/UCDvision/compact3d")
SLOWFORMER = Paper("SlowFormer: a universal adversarial patch against compute-adaptive ViTs", "CVPR 2024", "https://arxiv.org/abs/2310.02544",
                   "https://github.com/UCDvision/SlowFormer")
BACKDOOR = Paper("A Closer Look at Robustness of ViTs to Backdoor Attacks", "WACV 2024",
                 "https://arxiv.org/abs/2206.08477", "https://github.com/UCDvision/backdoor_transformer")
GENIE = Paper("GeNIe: generative hard negatives through diffusion", "arXiv 2023",
              "https://arxiv.org/abs/2312.02548", "https://github.com/UCDvision/GeNIe")
SIMREG = Paper("SimReg: regression for self-supervised distillation", "BMVC 2021", "https://arxiv.org/abs/2201.05131", "https://github.com/UCDvision/simreg")
MSF = Paper("Mean Shift for Self-Supervised Learning", "ICCV 2021", "https://github.com/UMBCvision/MSF",
            "https://github.com/UMBCvision/MSF")
CMSF = Paper("CMSF: Constrained Mean Shift for representation learning", "ECCV 2022",
             "https://arxiv.org/abs/2112.04607", "https://github.com/UCDvision/CMSF")
