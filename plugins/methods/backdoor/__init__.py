"""Backdoor attacks on vision transformers (arXiv 2206.08477; WACV 2024 "A Closer Look at
Robustness of Vision Transformers to Backdoor Attacks"): poison a share of the training set
with a patch trigger and fine-tune the task's pretrained base. Light at import; the poisons are
in :mod:`.poisons`, the method in :mod:`.method`."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("backdoor", "ucdbench_plugins.methods.backdoor.method:Backdoor",
             summary="patch-trigger poisoning (BadNets-style, or hidden-trigger with variant=hidden) and fine-tuning")
