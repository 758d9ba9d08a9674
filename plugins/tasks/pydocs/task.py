"""The ``pydocs`` task: causal language modelling with a small GPT-2, pretrained in-suite.

The protocol mirrors the image tasks' held-out-class transfer: the base model is pretrained
on one set of pydoc topics (cached, shared by every run of the same configuration) and the
task fine-tunes and scores on other topics — the setting LoRA and NOLA adapt GPT-2 in.
Perplexity and bits per byte come from the mean next-token cross-entropy over fixed
``block_size`` blocks of the eval topics, each block scored on its own (no carried context).

``task.dataset`` picks the adaptation text — what methods fine-tune on and are scored on —
while the base model stays the one pretrained on pydoc prose:

- ``pydocs`` (default): the held-out pydoc topics, the same kind of prose as the pretraining
  text. A pretrained base is already good at it, so adapters move it little and barely differ.
- ``pysource``: Python source files of the running interpreter's standard library
  (:mod:`~ucdbench_plugins.tasks.pydocs.sources`: chosen and split by path hash, within
  ``source_train_bytes`` and ``source_eval_bytes``, with no passage of the pydoc topics), a
  real shift from prose to code: the setting in which adapters must move the base, so that
  they can be told apart. After ``prepare`` the task's ``source_corpus`` describes the text
  read (Python version, files and bytes per split, SHA-256 of each), which is the same on
  every machine with the same Python version.
- a Hugging Face dataset id (for example ``e2e_nlg``, the NOLA/LoRA benchmark); offline it must
  already be in the local datasets cache.

The shifted text is a setting of this task rather than a task of its own because the base model
*is* this task's: one model, one pretraining, one cache entry, adapted to another text. The
``base`` row of ``task.dataset=pysource`` is the very model of the default setting's, and
``task.base``, the metrics and the presets apply unchanged.

Presets: ``smoke`` a one-layer 32-wide model (pretrains in seconds); ``small`` four layers of
width 128 (~0.8M parameters, CPU minutes); ``paper`` GPT-2 medium's sizes (24 layers, width
1024, 16 heads, 1024-token context), for GPUs. ``train_fraction`` keeps a fixed share of the
training blocks (a quarter at smoke, half at small) so that fine-tuning fits the preset's
time; fine-tuning cost grows with it and the eval split is never cut by it.

The topics are deduplicated before they are split, so no split shares a verbatim passage of
200 bytes or more with another (:mod:`~ucdbench_plugins.tasks.pydocs.data`). Whatever
``task.dataset``, ``task.validation_fraction`` of the training text's bytes (whole documents)
is held out as a validation split that nothing trains on; ``task.score_on=validation`` scores it
instead of the eval split, so that a method's settings (a learning rate) are chosen without
looking at the eval text. Runs that score the eval split train on exactly the same text.

``task.base`` picks the base model. ``in-suite`` (the default) is the byte-level GPT-2 above.
Anything else is a Hugging Face hub id (``gpt2-medium``, ``gpt2-large``, ...) or a local folder
written by ``save_pretrained``, holding a causal LM and its tokenizer, loaded with
``AutoModelForCausalLM`` / ``AutoTokenizer``: the real pretrained GPT-2 that LoRA and NOLA
adapt. Then

- documents are encoded with the model's own tokenizer, its EOS token after each document,
  and no in-suite pretraining happens (the pretraining topics go unused; the train and eval
  topics are the same as in-suite, so the eval text is the same);
- ``base_model(pretrained=True)`` is ``from_pretrained`` (a fresh fp32 copy each call),
  ``base_model(pretrained=False)`` the same architecture randomly initialised (``from_config``);
- the checkpoint decides the architecture: the in-suite model's settings (``n_layer``,
  ``n_head``, ``n_embd``, ``dropout`` and the ``pretrain_*`` ones) are ignored at their preset
  values and an error when set to anything else, so they never silently disagree with the
  model that runs; ``block_size`` (the length of the blocks) must fit the model's context;
- perplexity is per token *of that tokenizer* (not comparable across tokenizers), while bits
  per byte divides the total nats by the real UTF-8 byte count of the scored text (each token
  carries the bytes it stands for, see :func:`~ucdbench_plugins.tasks.pydocs.data.encode_with`), so it
  compares across tokenizers and with the in-suite base;
- offline (``HF_HUB_OFFLINE``), a hub id must already be in the local Hugging Face cache.

The NOLA paper's own setting, GPT-2 Large adapted on E2E (``paper`` preset: rank 8, k = l = 256,
Q and V)::

    ucdbench run --method nola --task pydocs --preset paper --set task.base=gpt2-large \
        --set task.dataset=e2e_nlg --set batch_size=8 --set epochs=5 --hardware cuda

(``--method lora --set task.base=gpt2-medium --set rank=4`` for LoRA's GPT-2 M; batch size 8
and 5 epochs are LoRA's E2E recipe.) The task scores perplexity and bits per byte of the E2E references
and meaning representations, not the papers' BLEU of generated text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ucdbench.api import (
    LanguageModeling, Metric, PerPreset, Setting, Task, UcdbenchError, cached_tensors, config_key,
    progress_bar, shuffled_batches,
)
from ucdbench_plugins.tasks.pydocs.data import (
    END_OF_TEXT, VOCAB_SIZE, blocks, encode, encode_with, hold_out, hub_documents, offline_variables, pydoc_topics,
    split_topics, unique_topics,
)
from ucdbench_plugins.tasks.pydocs.sources import SourceCorpus, read_sources

IN_SUITE = "in-suite"
PYDOCS, PYSOURCE = "pydocs", "pysource"
"""The built-in adaptation texts: the held-out pydoc topics (prose), standard-library source (code)."""
SCORED_SPLITS = ("eval", "validation")
"""What ``task.score_on`` may score: the eval text, or the validation text held out of the training text."""
_PYSOURCE_ONLY = ("source_train_bytes", "source_eval_bytes")
"""Settings of ``task.dataset=pysource``: any other dataset leaves them at their preset values."""
_MODEL_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "dropout")
_IN_SUITE_ONLY = ("n_layer", "n_head", "n_embd", "dropout", "pretrain_steps", "pretrain_batch_size", "pretrain_lr",
                  "pretrain_seed")
"""Settings of the in-suite model and its pretraining: a hub base's checkpoint decides these."""
_HUB_SIZES = {"n_layer": "num_hidden_layers", "n_head": "num_attention_heads", "n_embd": "hidden_size"}
_LOGIT_BUDGET = 2 ** 27
"""Eval batches of a hub base hold at most this many logits (a 50k-token vocabulary is large)."""
_FRACTION = dict(minimum=0, exclusive_minimum=True, maximum=1)


class PyDocs(Task, LanguageModeling):
    name: ClassVar[str] = "pydocs"
    metrics: ClassVar[tuple[Metric, ...]] = (
        Metric("perplexity", False, "", "exp of the mean next-token cross-entropy on the eval blocks; per token "
               "of the base's tokenizer (bytes for the in-suite base)"),
        Metric("bits_per_byte", False, "bits", "total cross-entropy in bits over the UTF-8 bytes of the scored eval text"),
        Metric("nll", False, "nats", "mean next-token cross-entropy on the eval blocks"),
    )
    primary_metric: ClassVar[str] = "perplexity"

    settings: ClassVar[dict[str, Setting]] = {
        "base": Setting(IN_SUITE, "the base model: 'in-suite' (a byte-level GPT-2 pretrained here on held-out "
                                  "topics), a Hugging Face hub id or a save_pretrained folder"),
        "dataset": Setting(PYDOCS, "the adaptation text: 'pydocs' (the held-out pydoc topics), 'pysource' (Python "
                                   "source of the standard library: a shift from prose to code) or a hub dataset id "
                                   "(e2e_nlg)"),
        "pretrain_fraction": Setting(0.6, "share of the pydoc topics the in-suite base is pretrained on", **_FRACTION),
        "eval_fraction": Setting(0.15, "share of the pydoc topics in the eval split", **_FRACTION),
        "validation_fraction": Setting(0.15, "share of the training text's bytes held out (whole documents) as the "
                                             "validation split, never trained on", minimum=0, exclusive_minimum=True,
                                       maximum=0.5),
        "score_on": Setting("eval", "the split scored: 'eval', or 'validation' (held out of the training text) to "
                                    "choose a method's settings without looking at the eval text",
                            choices=SCORED_SPLITS),
        "pretrain_seed": Setting(0, "seed of the in-suite pretraining (not the run's seed)", minimum=0),
        "n_layer": Setting(PerPreset(1, 4, 24), "transformer blocks of the in-suite base", minimum=1),
        "n_head": Setting(PerPreset(2, 4, 16), "attention heads of the in-suite base (must divide n_embd)", minimum=1),
        "n_embd": Setting(PerPreset(32, 128, 1024), "embedding width of the in-suite base", minimum=1),
        "block_size": Setting(PerPreset(64, 128, 1024), "tokens per training and eval block", minimum=2),
        "dropout": Setting(PerPreset(0.0, 0.1, 0.1), "dropout of the in-suite base", minimum=0, maximum=0.9),
        "pretrain_steps": Setting(PerPreset(150, 800, 2000), "optimiser steps of in-suite pretraining", minimum=0),
        "pretrain_batch_size": Setting(PerPreset(16, 16, 8), "blocks per pretraining step", minimum=1),
        "pretrain_lr": Setting(PerPreset(3e-3, 2e-3, 3e-4), "learning rate of in-suite pretraining", minimum=0,
                               exclusive_minimum=True),
        "eval_tokens": Setting(PerPreset(16384, 0, 0), "tokens scored of the split task.score_on names (0: all of it)",
                               minimum=0),
        "train_fraction": Setting(PerPreset(0.25, 0.5, 1.0), "share of the train split's text used", **_FRACTION),
        "source_train_bytes": Setting(PerPreset(32_000, 128_000, 4_000_000), "bytes of standard-library source files "
                                      "in the train split (task.dataset=pysource; before train_fraction)", minimum=1),
        "source_eval_bytes": Setting(PerPreset(8_000, 32_000, 500_000), "bytes of standard-library source files in "
                                     "the eval split (task.dataset=pysource)", minimum=1),
    }

    # -- data ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        cfg = self.config
        hub = self.hub_base
        if hub is None and cfg["n_embd"] % cfg["n_head"]:
            raise UcdbenchError(f"task.n_embd={cfg['n_embd']} must be a multiple of task.n_head={cfg['n_head']}")
        if cfg["dataset"] != PYSOURCE:
            defaults = self.defaults(self.preset)
            changed = [f"task.{k}={cfg[k]!r}" for k in _PYSOURCE_ONLY if cfg[k] != defaults[k]]
            if changed:
                raise UcdbenchError(f"{'; '.join(changed)}: these size the standard-library source text of "
                                    f"task.dataset={PYSOURCE}, not task.dataset={cfg['dataset']!r}; drop the override(s) "
                                    f"or set task.dataset={PYSOURCE}")
        if hub is not None:
            self._load_hub()  # fails fast on a missing model, before any text is read
            self._check_hub_settings()
        topics = unique_topics()
        self.topic_split = split_topics(topics, cfg["pretrain_fraction"], cfg["eval_fraction"])
        if hub is None:
            self.pretrain_stream = encode(topics[t] for t in self.topic_split["pretrain"])
        self.source_corpus: SourceCorpus | None = None
        """What ``task.dataset=pysource`` read (Python version, files, bytes, digests); None otherwise."""
        if cfg["dataset"] == PYDOCS:
            documents = {split: [topics[t] for t in self.topic_split[split]] for split in ("train", "eval")}
        elif cfg["dataset"] == PYSOURCE:
            budgets = {"train": cfg["source_train_bytes"], "eval": cfg["source_eval_bytes"]}
            self.source_corpus = read_sources(budgets, pydoc_topics().values())
            documents = dict(self.source_corpus.documents)
        else:
            documents = hub_documents(cfg["dataset"])
        documents["train"], documents["validation"] = hold_out(documents["train"], cfg["validation_fraction"])
        self.documents = {"pretrain": [topics[t] for t in self.topic_split["pretrain"]], **documents}
        """Split → its documents: ``pretrain`` (the in-suite base's), ``train``, ``validation``, ``eval``."""
        scored = documents[cfg["score_on"]]
        if hub is None:
            train_stream, eval_stream = encode(documents["train"]), encode(scored)
            eval_bytes = (eval_stream != END_OF_TEXT).long()  # one byte per id but end-of-text
        else:
            train_stream, _ = encode_with(self.tokenizer, documents["train"])
            eval_stream, eval_bytes = encode_with(self.tokenizer, scored)
            vocab = self.hub_config.vocab_size
            if max(int(train_stream.max()), int(eval_stream.max())) >= vocab:
                raise UcdbenchError(f"task.base={hub!r}: its tokenizer gives ids beyond the model's vocab_size={vocab}")
        train_blocks = blocks(train_stream, cfg["block_size"])
        keep = max(1, round(cfg["train_fraction"] * len(train_blocks)))
        chosen = torch.randperm(len(train_blocks), generator=torch.Generator().manual_seed(0))[:keep]
        self.train_blocks = train_blocks[chosen.sort().values]  # the same blocks for every run seed
        eval_blocks = blocks(eval_stream, cfg["block_size"])
        eval_bytes = blocks(eval_bytes, cfg["block_size"])
        if cfg["eval_tokens"]:
            eval_blocks = eval_blocks[: max(1, cfg["eval_tokens"] // cfg["block_size"])]
            eval_bytes = eval_bytes[: len(eval_blocks)]
        self.eval_blocks = eval_blocks
        """The blocks scored: of the eval split, or of the validation split with ``task.score_on=validation``."""
        self.eval_bytes = eval_bytes
        """UTF-8 bytes of text each eval token stands for (0 for end of text), beside ``eval_blocks``."""

    def train_batches(self, batch_size: int, epochs: float) -> Iterator[torch.Tensor]:
        """(batch_size, block_size) LongTensor blocks; each pass visits every block once."""
        for idx in shuffled_batches(len(self.train_blocks), batch_size, epochs, self.seed):
            yield self.train_blocks[idx]

    # -- models -------------------------------------------------------------------------------

    @property
    def hub_base(self) -> str | None:
        """``task.base`` when it names a hub id or local folder, None for the in-suite base."""
        base = self.config.get("base", IN_SUITE)
        return None if base == IN_SUITE else str(base)

    def model_config(self) -> dict[str, Any]:
        if self.hub_base is not None:
            return {"base": self.hub_base, "block_size": self.config["block_size"]}
        return {k: self.config[k] for k in _MODEL_KEYS}

    def _load_hub(self) -> None:
        """The hub base's config and tokenizer (``self.hub_config``, ``self.tokenizer``), once."""
        if hasattr(self, "hub_config"):
            return
        from transformers import AutoConfig, AutoTokenizer

        name = self.hub_base
        assert name is not None
        local = Path(name).expanduser()
        if name.startswith((".", "/", "~")) and not local.is_dir():
            raise UcdbenchError(f"task.base={name!r} is not a folder; give a folder written by save_pretrained, "
                                f"a Hugging Face hub id such as gpt2-large, or {IN_SUITE!r}")
        source = str(local) if local.is_dir() else name
        try:
            self.hub_config = AutoConfig.from_pretrained(source)
            self.tokenizer = AutoTokenizer.from_pretrained(source)
        except Exception as exc:
            raise _hub_error(name, local.is_dir(), exc) from exc
        self._hub_source = source
        if self.tokenizer.eos_token_id is None:
            raise UcdbenchError(f"task.base={name!r}: its tokenizer has no EOS token to separate documents with")

    def _check_hub_settings(self) -> None:
        """The documented rule: in-suite-only settings at their preset values are ignored, any
        other value is an error (the checkpoint decides); the blocks must fit the context."""
        cfg, preset = self.config, self.defaults(self.preset)
        changed = [k for k in _IN_SUITE_ONLY if cfg[k] != preset[k]]
        if changed:
            has = {k: getattr(self.hub_config, attr, None) for k, attr in _HUB_SIZES.items()}
            told = "; ".join(f"task.{k}={cfg[k]!r}" + (f" (the checkpoint has {has[k]})" if has.get(k) is not None else "")
                             for k in changed)
            raise UcdbenchError(
                f"{told}: with task.base={self.hub_base!r} the checkpoint decides the architecture and nothing is "
                f"pretrained in-suite, so these settings apply to the in-suite base only; drop the override(s)"
            )
        context = getattr(self.hub_config, "max_position_embeddings", None)
        if context is not None and cfg["block_size"] > context:
            raise UcdbenchError(f"task.block_size={cfg['block_size']} is longer than task.base={self.hub_base!r}'s "
                                f"context of {context} tokens; set task.block_size={context} or less")

    def _build(self) -> nn.Module:
        from transformers import GPT2Config, GPT2LMHeadModel

        cfg = self.config
        config = GPT2Config(
            vocab_size=VOCAB_SIZE, n_positions=cfg["block_size"], n_embd=cfg["n_embd"],
            n_layer=cfg["n_layer"], n_head=cfg["n_head"], resid_pdrop=cfg["dropout"],
            embd_pdrop=cfg["dropout"], attn_pdrop=cfg["dropout"],
            bos_token_id=END_OF_TEXT, eos_token_id=END_OF_TEXT,
        )
        return GPT2LMHeadModel(config)

    def base_model(self, pretrained: bool = True) -> nn.Module:
        torch.manual_seed(self.seed)
        if self.hub_base is not None:
            return self._hub_model(pretrained)
        model = self._build()
        if pretrained:
            state = cached_tensors("pretrained/pydocs", self._pretrain_config(), self._pretrain)
            # the output layer is tied to the token embedding, so the cache stores it once
            model.load_state_dict({**state, "lm_head.weight": state["transformer.wte.weight"]})
        return model

    def _hub_model(self, pretrained: bool) -> nn.Module:
        from transformers import AutoModelForCausalLM

        self._load_hub()
        if not pretrained:
            return AutoModelForCausalLM.from_config(self.hub_config).float()
        try:
            model = AutoModelForCausalLM.from_pretrained(self._hub_source)
        except Exception as exc:
            raise _hub_error(self.hub_base, Path(self._hub_source).is_dir(), exc) from exc
        return model.float()  # the checkpoint's own dtype (bf16, say) widened losslessly

    def _pretrain_config(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "task": self.name, "model": self.model_config(), "vocab_size": VOCAB_SIZE,
            "pretrain_text": config_key(self.pretrain_stream.tolist()),
            **{k: cfg[k] for k in ("pretrain_steps", "pretrain_batch_size", "pretrain_lr", "pretrain_seed")},
        }

    def _pretrain(self) -> dict[str, torch.Tensor]:
        """AdamW with linear warm-up and cosine decay on random windows of the pretraining
        topics, on a GPU where there is one (the paper preset needs it)."""
        cfg = self.config
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        torch.manual_seed(cfg["pretrain_seed"])
        model = self._build().to(device).train()
        steps, size = cfg["pretrain_steps"], cfg["block_size"]
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg["pretrain_lr"], weight_decay=0.01)
        warmup = max(1, steps // 10)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * s / steps)))
        )
        generator = torch.Generator().manual_seed(cfg["pretrain_seed"])
        stream = self.pretrain_stream
        for _ in progress_bar(range(steps), desc="pretrain pydocs base", total=steps):
            starts = torch.randint(0, len(stream) - size + 1, (cfg["pretrain_batch_size"],), generator=generator)
            batch = torch.stack([stream[s:s + size] for s in starts.tolist()])
            loss = self.loss(model, batch, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
        return {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}

    # -- scoring ------------------------------------------------------------------------------

    def loss(self, model: nn.Module, batch: torch.Tensor, device: torch.device) -> torch.Tensor:
        """Mean next-token cross-entropy over the block."""
        ids = batch.to(device)
        return _token_nll(model(ids).logits, ids).mean()

    @torch.no_grad()
    def evaluate(
        self,
        model: nn.Module,
        device: torch.device,
        input_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """Metrics on the eval blocks; ``input_transform`` changes what the model reads, the
        targets stay the untransformed text. Every token but a block's first is scored; bits
        per byte divides the total nats (over ln 2) by the UTF-8 bytes those tokens stand for."""
        model.eval()
        batch = 32
        if self.hub_base is not None:
            batch = max(1, min(batch, _LOGIT_BUDGET // (self.eval_blocks.shape[1] * self.hub_config.vocab_size)))
        total, tokens, text_bytes = 0.0, 0, 0
        for start in range(0, len(self.eval_blocks), batch):
            ids = self.eval_blocks[start:start + batch].to(device)
            inputs = ids if input_transform is None else input_transform(ids)
            total += float(_token_nll(model(inputs).logits, ids).sum())
            tokens += ids[:, 1:].numel()
            if self.hub_base is None:  # one byte per id but end-of-text
                text_bytes += int((ids[:, 1:] != END_OF_TEXT).sum())
            else:  # the bytes of text each scored token stands for
                text_bytes += int(self.eval_bytes[start:start + batch, 1:].sum())
        nll = total / tokens
        return {"perplexity": math.exp(nll), "bits_per_byte": total / math.log(2) / text_bytes, "nll": nll}

    def sample_inputs(self, batch_size: int, device: torch.device) -> torch.Tensor:
        reps = -(-batch_size // len(self.eval_blocks))
        return self.eval_blocks.repeat(reps, 1)[:batch_size].to(device)


def _hub_error(name: str | None, local: bool, exc: Exception) -> UcdbenchError:
    """Why a hub base could not be loaded, and how to fix it."""
    offline = [v for v in offline_variables() if v != "HF_DATASETS_OFFLINE"]
    if local:
        why = "the folder needs config.json, the tokenizer's files and the weights, as save_pretrained writes them"
    elif offline:
        why = (f"{' and '.join(offline)} {'is' if len(offline) == 1 else 'are'} set and the model is not in the local "
               "Hugging Face cache; run once online (unset it) to cache it, or set task.base to a local folder "
               "written by save_pretrained")
    else:
        why = "check the hub id and your connection, or set task.base to a local folder written by save_pretrained"
    return UcdbenchError(
        f"task.base={name!r} could not be loaded with transformers' AutoConfig / AutoTokenizer / "
        f"AutoModelForCausalLM: {why} ({type(exc).__name__}: {str(exc).strip()}). "
        f"The default task.base={IN_SUITE} needs no download."
    )


def _token_nll(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """(B, T-1) cross-entropy of predicting each token from the ones before it."""
    return F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), ids[:, 1:], reduction="none")
