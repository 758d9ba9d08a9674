"""The pydocs task: topic splits, the in-suite pretrained base and its cache, the metrics."""

from __future__ import annotations

import math
import os

import pytest
import torch

from ucdbench.interfaces import UcdbenchError
from ucdbench.tasks.pydocs_data import VOCAB_SIZE, hub_documents, pydoc_topics, split_topics
from ucdbench.tasks.pydocs_task import PyDocs

CPU = torch.device("cpu")


@pytest.fixture
def task():
    """The smoke task; its pretrained base lands in the session's temporary UCDBENCH_CACHE."""
    task = PyDocs("smoke", 0, PyDocs.defaults("smoke"))
    task.prepare()
    return task


def test_topic_split_is_disjoint_complete_and_deterministic():
    topics = pydoc_topics()
    split = split_topics(topics, 0.6, 0.15)
    assert split == split_topics(dict(reversed(list(topics.items()))), 0.6, 0.15)
    names = [set(split[s]) for s in ("pretrain", "train", "eval")]
    assert all(names) and not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert set().union(*names) == set(topics)
    total = sum(len(t.encode()) for t in topics.values())
    eval_share = sum(len(topics[t].encode()) for t in split["eval"]) / total
    assert 0.05 < eval_share < 0.3


def test_bad_split_fractions_are_rejected():
    with pytest.raises(UcdbenchError, match="sum to less than 1"):
        split_topics(pydoc_topics(), 0.7, 0.4)


def test_one_epoch_of_train_batches_visits_every_block_once(task):
    batch_size = 16
    n = len(task.train_blocks) // batch_size * batch_size
    task.train_blocks = task.train_blocks[:n]
    seen = torch.cat(list(task.train_batches(batch_size, epochs=1.0)))
    assert seen.shape == task.train_blocks.shape and seen.dtype == torch.long
    as_rows = lambda t: sorted(map(tuple, t.tolist()))  # noqa: E731
    assert as_rows(seen) == as_rows(task.train_blocks)
    assert torch.equal(seen, torch.cat(list(task.train_batches(batch_size, epochs=1.0))))


def test_uniform_model_scores_log_vocab(task):
    model = task.base_model(pretrained=False)
    with torch.no_grad():
        model.transformer.wte.weight.zero_()  # tied to the output layer: every logit is 0
    batch = next(iter(task.train_batches(4, 1.0)))
    assert task.loss(model, batch, CPU).item() == pytest.approx(math.log(VOCAB_SIZE), rel=1e-5)
    metrics = task.evaluate(model, CPU)
    assert metrics["perplexity"] == pytest.approx(VOCAB_SIZE, rel=1e-4)
    assert metrics["bits_per_byte"] >= math.log2(VOCAB_SIZE) - 1e-4


def test_pretrained_base_beats_random_init_and_is_cached(task, monkeypatch):
    random_ppl = task.evaluate(task.base_model(pretrained=False), CPU)["perplexity"]
    pretrained = task.base_model(pretrained=True)
    pretrained_ppl = task.evaluate(pretrained, CPU)["perplexity"]
    assert pretrained_ppl < 0.5 * random_ppl

    def no_pretraining():
        raise AssertionError("a cache hit must not pretrain again")

    monkeypatch.setattr(task, "_pretrain", no_pretraining)
    again = task.base_model(pretrained=True).state_dict()
    for name, tensor in pretrained.state_dict().items():
        assert torch.equal(tensor, again[name]), name
    assert again["lm_head.weight"].data_ptr() == again["transformer.wte.weight"].data_ptr()


def test_sample_inputs_run_through_forward(task):
    inputs = task.sample_inputs(3, CPU)
    assert inputs.shape == (3, task.config["block_size"]) and inputs.dtype == torch.long
    logits = task.forward(task.base_model(pretrained=False), inputs).logits
    assert logits.shape == (3, task.config["block_size"], VOCAB_SIZE)


def test_train_fraction_keeps_a_fixed_share_of_the_blocks(task):
    full = PyDocs("smoke", 1, {**PyDocs.defaults("smoke"), "train_fraction": 1.0})
    full.prepare()
    assert len(task.train_blocks) == round(0.25 * len(full.train_blocks))
    as_rows = lambda t: set(map(tuple, t.tolist()))  # noqa: E731
    assert as_rows(task.train_blocks) <= as_rows(full.train_blocks)
    assert torch.equal(full.eval_blocks, task.eval_blocks)
    other_seed = PyDocs("smoke", 1, PyDocs.defaults("smoke"))
    other_seed.prepare()
    assert torch.equal(other_seed.train_blocks, task.train_blocks)


def test_heads_must_divide_width():
    config = {**PyDocs.defaults("smoke"), "n_head": 3}
    with pytest.raises(UcdbenchError, match="multiple of task.n_head"):
        PyDocs("smoke", 0, config).prepare()


@pytest.mark.skipif(os.environ.get("HF_DATASETS_OFFLINE", "") in ("", "0"), reason="needs HF_DATASETS_OFFLINE=1")
def test_hub_dataset_offline_fails_fast_with_the_reason():
    with pytest.raises(UcdbenchError, match="HF_DATASETS_OFFLINE.*not in the local datasets cache"):
        hub_documents("ucdbench-tests/no-such-dataset")


def test_a_cold_cache_draws_the_same_random_numbers_as_a_warm_one(tmp_path, monkeypatch):
    """Pretraining (with dropout) on a cache miss must not move the global RNG a method then
    trains with: the first run of a configuration equals every later one."""
    monkeypatch.setenv("UCDBENCH_CACHE", str(tmp_path))
    config = {**PyDocs.defaults("smoke"), "dropout": 0.1, "pretrain_steps": 3}
    task = PyDocs("smoke", 0, config)
    task.prepare()
    after = []
    for _ in ("cold", "warm"):
        task.base_model(pretrained=True)
        after.append(torch.rand(4))
    assert torch.equal(after[0], after[1])
