"""Adaptive-compute ViTs with real token dropping — A-ViT (token halting) and ATS (adaptive token
sampling) — and the methods that fine-tune them: shared by the ``avit``/``ats`` plugin and by
SlowFormer, which attacks them. The models live in :mod:`.avit` and :mod:`.ats`, shared pieces
in :mod:`.tokens`, the methods in :mod:`.method`."""
