"""``backdoor``: poison a share of the training set with a patch trigger, fine-tune the task's
pretrained base on it, and hand the harness the poisoned model with the trigger as its input
transform (``Outcome.input_transform``) and the attack described for the ``targeted-attack``
evaluation (``Outcome.extras["targeted_attack"]``), which measures attack success and the
blocking defence.

Settings follow the official configuration (``cfg/.../experiment_0001_base2.cfg``: patch_size
30, eps 16, rand_loc true, num_poison 600 of ImageNet's ~1.28M training images, one source
class) at the ``paper`` preset. Fine-tuning is the harness's training loop with ``full-ft``'s
defaults, so ``full-ft`` on the same task is the clean control that trains alike
(``poison_rate=0`` is the same control inside this method). The official script trains the
classifier only (``feature_extract = True`` in ``finetune_transformer.py``: SGD, lr 1e-3,
momentum 0.9, 10 epochs), which ``finetune=head`` gives (the ``paper`` preset's default);
``finetune=all`` trains every weight.

Classes are the task's own label ids (on ``digits`` and ``mnist``, 0 is the first of
``task.classes``: the digit 5 by default).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ucdbench.api import (
    Artifact, Config, FitContext, ImageClassification, Outcome, PerPreset, Setting, Task, UcdbenchError, expand_dense,
    train,
)
from ucdbench_plugins.methods.backdoor.poisons import PoisonedTraining, hidden_trigger_poisons
from ucdbench_plugins.shared.backdoor.trigger import TargetedAttack, TriggerPaste, trigger_pattern
from ucdbench_plugins.shared.method_settings import training_settings
from ucdbench_plugins.shared.outcome import DenseModel

ATTACK = ("variant", "trigger_size", "trigger_seed", "target_class", "source_classes")
"""The settings the artifact's metadata keeps: what describes the attack, rebuilt from them."""


def _class_ids(value: Any) -> str | None:
    if value == "all" or (isinstance(value, list) and value and all(isinstance(c, int) and not isinstance(c, bool)
                                                                  and c >= 0 for c in value)):
        return None
    return f"{value!r} is not allowed: expected 'all' or a non-empty JSON list of class ids, e.g. [1] or [1, 2]"


class Backdoor(DenseModel):
    name = "backdoor"
    requires = (ImageClassification,)
    settings = {
        "variant": Setting("badnets", "badnets: triggered source images relabelled as the target; hidden: target "
                                      "images perturbed within epsilon toward triggered sources' features, correctly "
                                      "labelled", choices=("badnets", "hidden")),
        "trigger_size": Setting(PerPreset(2, 4, 30), "side of the square trigger in pixels (official: 30 on 224)",
                                minimum=1),
        "trigger_seed": Setting(10, "seed of the trigger's random binary pattern (the official trigger_id is 10)",
                                minimum=0),
        "poison_rate": Setting(PerPreset(0.1, 0.1, 0.0005), "poisons added, as a share of the training set (0: the "
                                                             "clean control; official: 600 of ~1.28M)",
                               minimum=0, maximum=1),
        "target_class": Setting(0, "the class triggered images are sent to (a task label id)", minimum=0),
        "source_classes": Setting([1], "the classes whose images are triggered, in poisons and in the attack "
                                       "success rate ('all': every class but the target)",
                                  choices=("all",), type=list, check=_class_ids),
        "finetune": Setting(PerPreset("all", "all", "head"), "the weights fine-tuning trains: every one, or the "
                                                              "classifier only (the official feature_extract)",
                            choices=("all", "head")),
        "epsilon": Setting(16 / 255, "hidden: L-infinity bound of the perturbation, in [0, 1] pixel units",
                           minimum=0, exclusive_minimum=True, maximum=1),
        "poison_steps": Setting(PerPreset(10, 200, 5000), "hidden: gradient steps per batch of poisons (official "
                                                          "num_iter 5000)", minimum=1),
        "poison_lr": Setting(PerPreset(0.01, 0.01, 0.001), "hidden: step size of the perturbation's gradient "
                                                           "descent, halved every 1000 steps (official 0.001)",
                             minimum=0, exclusive_minimum=True),
        "poison_batch": Setting(32, "hidden: poisons optimised together, paired with as many triggered sources "
                                    "(official 32)", minimum=1),
        **training_settings(lr=PerPreset(1e-3, 5e-4, 1e-4), epochs=PerPreset(3, 20, 30),
                            batch_size=PerPreset(64, 64, 128), weight_decay=0.05),
    }

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        attack = self._attack(task, config)
        model = task.base_model(pretrained=True)
        poisons, labels = self._poisons(task, config, attack, ctx.seed)
        if config["finetune"] == "head":
            head = set(task.head_parameters(model))
            params = [p for name, p in model.named_parameters() if name in head]
        else:
            params = list(model.parameters())
        metrics = train(model, PoisonedTraining(task, poisons, labels, ctx.seed), ctx, params=params,
                        epochs=config["epochs"], lr=config["lr"], batch_size=config["batch_size"],
                        weight_decay=config["weight_decay"], desc="poisoned fine-tune")
        metrics["poisons"] = float(len(labels))
        return self.stored_outcome(task, model, metrics, {key: config[key] for key in ATTACK})

    def outcome(self, task: Task, model: nn.Module, artifact: Artifact,
                metrics: dict[str, float] | None = None) -> Outcome:
        """The poisoned model with the attack its artifact's metadata describes: the trigger as the
        input transform, the whole attack for the ``targeted-attack`` evaluation."""
        attack = self._attack(task, artifact.metadata)
        return Outcome(model=model, artifact=artifact, reconstruct=expand_dense, input_transform=attack.trigger,
                       metrics=dict(metrics or {}), extras={"targeted_attack": attack})

    @staticmethod
    def _attack(task: Task, config: Config) -> TargetedAttack:
        """The attack the settings describe (or the metadata that keeps them: :data:`ATTACK`),
        refused where the task cannot hold it."""
        sources = None if config["source_classes"] == "all" else tuple(sorted(set(config["source_classes"])))
        classes = range(task.num_classes)
        named = [config["target_class"], *(sources or ())]
        if any(c not in classes for c in named):
            raise UcdbenchError(f"backdoor: target_class={config['target_class']} and source_classes="
                                f"{config['source_classes']} must be label ids of {task.name}'s {task.num_classes} "
                                f"classes (0..{task.num_classes - 1})")
        if sources is not None and config["target_class"] in sources:
            raise UcdbenchError("backdoor: the target class cannot be a source class; set source_classes to others")
        if not config["trigger_size"] < task.image_size:
            raise UcdbenchError(f"backdoor: trigger_size={config['trigger_size']} must be smaller than the "
                                f"{task.image_size}-pixel images of {task.name}")
        pattern = trigger_pattern(config["trigger_size"], task.in_chans, config["trigger_seed"])
        return TargetedAttack(config["target_class"], sources, TriggerPaste(pattern))

    @staticmethod
    def _poisons(task: Task, config: Config, attack: TargetedAttack, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The poisons and their labels: ``poison_rate`` × the training set, drawn with ``seed``."""
        images = {"source": [], "target": []}
        size = 0
        for x, y in task.train_batches(1, 1):  # one pass, every image once
            size += len(y)
            images["source"].append(x[attack.counts(y)])
            images["target"].append(x[y == attack.target_class])
        sources, targets = torch.cat(images["source"]), torch.cat(images["target"])
        count = round(config["poison_rate"] * size)
        generator = torch.Generator().manual_seed(seed)
        label = torch.full((count,), attack.target_class, dtype=torch.long)
        pool = sources if config["variant"] == "badnets" else targets
        if count > len(pool):
            raise UcdbenchError(f"backdoor: poison_rate={config['poison_rate']} asks for {count} poisons but the "
                                f"training set has {len(pool)} {'source' if pool is sources else 'target'}-class "
                                f"images to make them from; lower poison_rate")
        chosen = pool[torch.randperm(len(pool), generator=generator)[:count]]
        location_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        trigger = TriggerPaste(attack.trigger.pattern, location_seed)
        if config["variant"] == "badnets":
            return trigger(chosen), label
        if not len(sources):
            raise UcdbenchError("backdoor: the training set has no source-class images to hide the trigger of")
        paired = sources[torch.randint(0, len(sources), (count,), generator=generator)]
        base = task.base_model(pretrained=True)
        head = base.get_submodule(task.head_parameters(base)[0].rpartition(".")[0])
        poisons = hidden_trigger_poisons(base, head, chosen, paired, trigger, epsilon=config["epsilon"],
                                         steps=config["poison_steps"], lr=config["poison_lr"],
                                         batch=config["poison_batch"])
        return poisons, label
