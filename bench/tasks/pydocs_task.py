"""The ``pydocs`` task: causal language modelling with a small GPT-2, pretrained in-suite.

The protocol mirrors the image tasks' held-out-class transfer: the base model is pretrained
on one set of pydoc topics (cached, shared by every run of the same configuration) and the
task fine-tunes and scores on other topics — the setting LoRA and NOLA adapt GPT-2 in.
Perplexity and bits per byte come from the mean next-token cross-entropy over fixed
``block_size`` blocks of the eval topics, each block scored on its own (no carried context).

``task.dataset`` may name a Hugging Face dataset (for example ``e2e_nlg``, the NOLA/LoRA
benchmark) to fine-tune and score on that instead; its base model is still the in-suite
pydocs-pretrained one, and offline it must already be in the local datasets cache.

Presets: ``smoke`` a one-layer 32-wide model (pretrains in seconds); ``small`` four layers of
width 128 (~0.8M parameters, CPU minutes); ``paper`` GPT-2 medium's sizes (24 layers, width
1024, 16 heads, 1024-token context), for GPUs. ``train_fraction`` keeps a fixed share of the
training blocks (a quarter at smoke, half at small) so that fine-tuning fits the preset's
time; fine-tuning cost grows with it and the eval split is never cut by it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ucdbench.batching import shuffled_batches
from ucdbench.cache import cached_tensors, config_key
from ucdbench.interfaces import Metric, Task, UcdbenchError
from ucdbench.progress import progress_bar
from ucdbench.tasks.pydocs_data import END_OF_TEXT, VOCAB_SIZE, blocks, encode, hub_documents, pydoc_topics, split_topics

_MODEL_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "dropout")
_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(n_layer=1, n_head=2, n_embd=32, block_size=64, dropout=0.0,
                  pretrain_steps=150, pretrain_batch_size=16, pretrain_lr=3e-3, eval_tokens=16384, train_fraction=0.25),
    "small": dict(n_layer=4, n_head=4, n_embd=128, block_size=128, dropout=0.1,
                  pretrain_steps=800, pretrain_batch_size=16, pretrain_lr=2e-3, eval_tokens=0, train_fraction=0.5),
    "paper": dict(n_layer=24, n_head=16, n_embd=1024, block_size=1024, dropout=0.1,
                  pretrain_steps=2000, pretrain_batch_size=8, pretrain_lr=3e-4, eval_tokens=0, train_fraction=1.0),
}


class PyDocs(Task):
    name: ClassVar[str] = "pydocs"
    kind: ClassVar[str] = "language-modeling"
    metrics: ClassVar[tuple[Metric, ...]] = (
        Metric("perplexity", False, "", "exp of the mean next-token cross-entropy on the eval blocks"),
        Metric("bits_per_byte", False, "bits", "cross-entropy in bits per byte of eval text"),
        Metric("nll", False, "nats", "mean next-token cross-entropy on the eval blocks"),
    )
    primary_metric: ClassVar[str] = "perplexity"

    @classmethod
    def defaults(cls, preset: str) -> dict[str, Any]:
        return {
            "dataset": "pydocs",
            "pretrain_fraction": 0.6,
            "eval_fraction": 0.15,
            "pretrain_seed": 0,
            **_PRESETS[preset],
        }

    # -- data ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        cfg = self.config
        if cfg["n_embd"] % cfg["n_head"]:
            raise UcdbenchError(f"task.n_embd={cfg['n_embd']} must be a multiple of task.n_head={cfg['n_head']}")
        if not 0 < cfg["train_fraction"] <= 1:
            raise UcdbenchError(f"task.train_fraction={cfg['train_fraction']} must be in (0, 1]")
        if cfg["block_size"] < 2:
            raise UcdbenchError(f"task.block_size={cfg['block_size']} must be at least 2 (a token and its successor)")
        topics = pydoc_topics()
        self.topic_split = split_topics(topics, cfg["pretrain_fraction"], cfg["eval_fraction"])
        self.pretrain_stream = encode(topics[t] for t in self.topic_split["pretrain"])
        if cfg["dataset"] == "pydocs":
            documents = {split: [topics[t] for t in self.topic_split[split]] for split in ("train", "eval")}
        else:
            documents = hub_documents(cfg["dataset"])
        train_blocks = blocks(encode(documents["train"]), cfg["block_size"])
        keep = max(1, round(cfg["train_fraction"] * len(train_blocks)))
        chosen = torch.randperm(len(train_blocks), generator=torch.Generator().manual_seed(0))[:keep]
        self.train_blocks = train_blocks[chosen.sort().values]  # the same blocks for every run seed
        eval_blocks = blocks(encode(documents["eval"]), cfg["block_size"])
        if cfg["eval_tokens"]:
            eval_blocks = eval_blocks[: max(1, cfg["eval_tokens"] // cfg["block_size"])]
        self.eval_blocks = eval_blocks

    def train_batches(self, batch_size: int, epochs: float) -> Iterator[torch.Tensor]:
        """(batch_size, block_size) LongTensor blocks; each pass visits every block once."""
        for idx in shuffled_batches(len(self.train_blocks), batch_size, epochs, self.seed):
            yield self.train_blocks[idx]

    # -- models -------------------------------------------------------------------------------

    def model_config(self) -> dict[str, Any]:
        return {k: self.config[k] for k in _MODEL_KEYS}

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
        model = self._build()
        if pretrained:
            state = cached_tensors("pretrained/pydocs", self._pretrain_config(), self._pretrain)
            # the output layer is tied to the token embedding, so the cache stores it once
            model.load_state_dict({**state, "lm_head.weight": state["transformer.wte.weight"]})
        return model

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
        targets stay the untransformed text."""
        model.eval()
        total, tokens, text_bytes = 0.0, 0, 0
        for start in range(0, len(self.eval_blocks), 32):
            ids = self.eval_blocks[start:start + 32].to(device)
            inputs = ids if input_transform is None else input_transform(ids)
            total += float(_token_nll(model(inputs).logits, ids).sum())
            tokens += ids[:, 1:].numel()
            text_bytes += int((ids[:, 1:] != END_OF_TEXT).sum())
        nll = total / tokens
        return {"perplexity": math.exp(nll), "bits_per_byte": total / math.log(2) / text_bytes, "nll": nll}

    def sample_inputs(self, batch_size: int, device: torch.device) -> torch.Tensor:
        reps = -(-batch_size // len(self.eval_blocks))
        return self.eval_blocks.repeat(reps, 1)[:batch_size].to(device)


def _token_nll(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """(B, T-1) cross-entropy of predicting each token from the ones before it."""
    return F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), ids[:, 1:], reduction="none")
