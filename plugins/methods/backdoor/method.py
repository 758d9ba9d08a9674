"""``backdoor``: poison a share of the training set with a patch trigger, fine-tune the task's
pretrained base on it, and hand the harness the poisoned model with the trigger as its input
transform (``Outcome.input_transform``) and the attack described for the ``targeted-attack``
evaluation (``Outcome.extras["targeted_attack"]``), which measures attack success and the
blocking defence.

The ``paper`` preset is the official recipe (UCDvision/backdoor_transformer at 54a6fa5):
hidden-trigger poisons — the only ones the official code makes (``generate_poison_transformer.py``;
BadNets stays ``variant=badnets``, the other presets' default) — with the configuration of
``cfg/singlesource_singletarget_1000class_finetune_deit_base/experiment_0001_base.cfg``
(patch_size 30, eps 16, lr 0.001 and num_iter 5000 for the poisons, rand_loc true, num_poison
600 of ImageNet's ~1.28M training images, one source class; fine-tuning: 10 epochs, batch_size
64, lr 0.001, momentum 0.9), and the fine-tuning of ``finetune_transformer.py``: the classifier
only (``feature_extract = True``, line 73; ``finetune=head``) on a freshly initialised head
(``model_ft.head = nn.Linear(num_ftrs, num_classes)``, line 366 for the configured DeiT-B; the
task's pretrained base always comes with a fresh head), by SGD without weight decay and the
step-decay schedule (``optimiser=sgd``, :mod:`.finetune`). ε is the official bound in the
network's input space (:func:`.poisons.epsilon_bound`): normalised units where the network
normalises its input (``imagenet``), pixel units on ``digits`` and ``mnist``, whose networks
take pixels as they are.

At the other presets fine-tuning is the harness's loop with ``full-ft``'s defaults
(``optimiser=adamw``), so ``full-ft`` on the same task is a clean control that trains alike;
``poison_rate=0`` is the clean control inside this method, with the same settings and the same
evaluation (its attack success rate is how often the trigger alone sends source images to the
target). ``finetune=all`` trains every weight.

Classes are the task's own label ids (on ``digits`` and ``mnist``, 0 is the first of
``task.classes``: the digit 5 by default).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import torch
from torch import nn

from ucdbench.api import (
    Artifact, AugmentedViews, Config, FitContext, ImageClassification, Outcome, PerPreset, Setting, Task, UcdbenchError, expand_dense,
    train,
)
from ucdbench_plugins.shared import papers
from ucdbench_plugins.methods.backdoor.finetune import official_finetune
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


def poison_count(rate: float, training_images: int) -> int:
    """The poisons ``poison_rate`` asks for: that share of the training set, rounded."""
    return round(rate * training_images)


def training_images(task: Task) -> int:
    """The training set ``poison_rate`` is a share of, on a prepared ``task``: ``num_train``
    where the task declares it (no image read), else the images of one pass of its stream."""
    if isinstance(task, AugmentedViews):
        return task.num_train
    return sum(len(y) for _, y in task.train_batches(256, 1))


@functools.cache
def _prepared_training_images(task_type: type[Task], preset: str, seed: int, config: str) -> int:
    task = task_type(preset, seed, json.loads(config))
    task.prepare()
    return training_images(task)


def training_size(task: Task) -> int:
    """:func:`training_images` of a prepared copy of ``task`` (``task`` itself is not yet
    prepared before a run), prepared once per configuration in a process: a sweep checks many
    runs of one task."""
    return _prepared_training_images(type(task), task.preset, task.seed,
                                     json.dumps(task.config, sort_keys=True, default=str))


class Backdoor(DenseModel):
    name = "backdoor"
    family = "backdoor attack"
    paper = papers.BACKDOOR
    reported_unavailable = ("Backdoor Attacks on Vision Transformers (arXiv 2206.08477): no clean accuracy, ASR or "
                            "ASR-after-blocking figure reachable: UCDvision/backdoor_transformer @54a6fa5 (README "
                            "on main and master, full history, cfg files, teaser image) has none; stored pages hold "
                            "the abstract only")
    requires = (ImageClassification,)
    settings = {
        "variant": Setting(PerPreset("badnets", "badnets", "hidden"),
                           "badnets: triggered source images relabelled as the target; hidden: target images "
                           "perturbed within epsilon toward triggered sources' features, correctly labelled (the "
                           "official code's only poisons)", choices=("badnets", "hidden")),
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
        "epsilon": Setting(16 / 255, "hidden: L-infinity bound of the perturbation in the network's input space, "
                                     "as the official clamp: normalised units where the network normalises its "
                                     "input (imagenet: ε · std in pixels), pixel units in [0, 1] where it does not "
                                     "(digits, mnist)",
                           minimum=0, exclusive_minimum=True, maximum=1),
        "poison_steps": Setting(PerPreset(10, 200, 5000), "hidden: gradient steps per batch of poisons (official "
                                                          "num_iter 5000)", minimum=1),
        "poison_lr": Setting(PerPreset(0.01, 0.01, 0.001), "hidden: step size of the perturbation's gradient "
                                                           "descent, halved every 1000 steps (official 0.001)",
                             minimum=0, exclusive_minimum=True),
        "poison_batch": Setting(32, "hidden: poisons optimised together, paired with as many triggered sources "
                                    "(official 32)", minimum=1),
        "optimiser": Setting(PerPreset("adamw", "adamw", "sgd"), "adamw: the harness's loop (AdamW, cosine decay; "
                                                                 "full-ft's); sgd: the official one (SGD, momentum "
                                                                 "0.9, lr × 0.1 every 10 epochs)",
                             choices=("adamw", "sgd")),
        **training_settings(epochs=PerPreset(3, 20, 10), batch_size=PerPreset(64, 64, 64)),
        "lr": Setting(PerPreset(1e-3, 5e-4, 1e-3), "learning rate: AdamW's peak (cosine decay to 0), or SGD's "
                                                   "before its step decay", minimum=0, exclusive_minimum=True),
        "weight_decay": Setting(PerPreset(0.05, 0.05, 0.0), "AdamW's decoupled weight decay, or SGD's L2 (the "
                                                            "official: none)", minimum=0),
    }

    def settings_problem(self, task: Task, config: Config) -> str | None:
        """A ``poison_rate`` above 0 that rounds to no poison on the task's training set (0
        itself is the clean control), refused before any run with the count and the smallest
        rate that makes one poison."""
        rate = config["poison_rate"]
        if rate == 0:
            return None
        size = training_size(task)
        if poison_count(rate, size) > 0:
            return None
        return (f"poison_rate={rate} makes round({rate} × {size}) = 0 poisons on the {size} training images of "
                f"{task.name}: set poison_rate ≥ {1 / size:.3g} (one poison), or poison_rate=0 for "
                "the clean control")

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        attack = self._attack(task, config)
        model = task.base_model(pretrained=True)
        poisons, labels = self._poisons(task, config, attack, ctx.seed)
        if config["finetune"] == "head":
            head = set(task.head_parameters(model))
            params = [p for name, p in model.named_parameters() if name in head]
        else:
            params = list(model.parameters())
        loop = official_finetune if config["optimiser"] == "sgd" else train
        metrics = loop(model, PoisonedTraining(task, poisons, labels, ctx.seed), ctx, params=params,
                       epochs=config["epochs"], lr=config["lr"], batch_size=config["batch_size"],
                       weight_decay=config["weight_decay"])
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
        for x, y in task.train_batches(1, 1):  # one pass, every image once
            images["source"].append(x[attack.counts(y)])
            images["target"].append(x[y == attack.target_class])
        sources, targets = torch.cat(images["source"]), torch.cat(images["target"])
        count = poison_count(config["poison_rate"], training_images(task))
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
