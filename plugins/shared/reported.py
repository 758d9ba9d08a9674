"""Where the papers' figures the built-in methods declare (:class:`ucdbench.api.ReportedFigure`)
were read, as the project's list of reachable sources (``REPORTED.md``) names them: a
repository at its commit and the file (a README, a project page's table image), or a paper's
camera-ready text and its table. One string per source, so a figure cites exactly what a
reader can open, and the settings every full-ImageNet figure shares.
"""

from __future__ import annotations

PAPERS = "klnavaneet/klnavaneet.github.io @1787743"
"""The camera-ready PDFs hosted on a co-author's site, under files/."""

MSF_TABLE_1 = "MSF paper Table 1 (UMBCvision/MSF @130191c, docs/assets/images/result_table1.png)"
MSF_TABLE_2 = "MSF paper Table 2 (UMBCvision/MSF @130191c, docs/assets/images/result_table2.png)"
CMSF_TABLE_1 = (f"CMSF, ECCV 2022, Table 1 (UCDvision/CMSF @7f40a51, docs/assets/images/table1.jpg; "
                f"{PAPERS}, files/10-cmsf.pdf)")
CMSF_KM_TABLE_1 = "CMSF, arXiv v1, Table 1 (UCDvision/CMSF @7f40a51, docs/assets/images/table1.jpg)"
CMSF_TABLE_2 = (f"CMSF, ECCV 2022, Table 2 (UCDvision/CMSF @7f40a51, docs/assets/images/table2.jpg; "
                f"{PAPERS}, files/10-cmsf.pdf)")
CMSF_TABLE_4 = f"CMSF, ECCV 2022, Table 4 ({PAPERS}, files/10-cmsf.pdf)"
CMSF_TABLE_6 = (f"CMSF, ECCV 2022, Table 6 (UCDvision/CMSF @7f40a51, docs/assets/images/table3.jpg; "
                f"{PAPERS}, files/10-cmsf.pdf)")
SIMREG_TABLE_3 = f"SimReg, BMVC 2021, Table 3 ({PAPERS}, files/09-simreg.pdf; UCDvision/simreg @2e974e7, README.md)"
SIMREG_TABLE_4 = f"SimReg, BMVC 2021, Table 4 ({PAPERS}, files/09-simreg.pdf; UCDvision/simreg @2e974e7, README.md)"
SLOWFORMER_TABLE_1 = f"SlowFormer, CVPR 2024, Table 1 ({PAPERS}, files/14-slowformer.pdf)"
SLOWFORMER_TABLE_4 = f"SlowFormer, CVPR 2024, Table 4 ({PAPERS}, files/14-slowformer.pdf)"
NOLA_TABLE_8 = f"NOLA paper, arXiv v1, Table 8 ({PAPERS}, files/11-nola.pdf)"
COMPGS_TABLE_1 = "CompGS, ECCV 2024, Table 1 (UCDvision/compact3d @dccc07e, docs/static/images/table_1_v2.png)"

FULL_IMAGENET = {"task.max_train_images": 0, "task.max_eval_images": 0, "task.image_size": 0,
                 "task.label_noise": 0.0}
"""The settings of a full-ImageNet figure: every training and eval image at the model's own
input size, no label noise (which labels methods get, each figure pins)."""
ALL_LABELS = {"task.labelled_fraction": 1.0, "task.labelled_list": ""}
"""Every training image labelled."""
