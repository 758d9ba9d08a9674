"""Patch-trigger backdoors (Subramanya et al., "Backdoor Attacks on Vision Transformers",
arXiv 2206.08477; official code UCDvision/backdoor_transformer): the trigger and where it lands
(:mod:`.trigger`), the maps that find it (:mod:`.saliency`), the test-time blocking defence
(:mod:`.defence`) and a picture of both (:mod:`.figure`). The ``backdoor`` method poisons with
them; the ``targeted-attack`` evaluation measures any outcome that carries a
:class:`.trigger.TargetedAttack`."""
