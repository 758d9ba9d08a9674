"""The offline image tasks ``digits`` and ``mnist`` (one entry point each: :mod:`.digits`,
:mod:`.mnist`): held-out-class pretraining, a timm ViT, a BatchNorm CNN or an MLP."""
