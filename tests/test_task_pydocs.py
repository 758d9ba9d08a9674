"""The pydocs task: topic splits, the in-suite pretrained base and its cache, the metrics."""

from __future__ import annotations

import math
import os

import pytest
import torch

from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench_plugins.tasks.pydocs.data import (
    END_OF_TEXT, VOCAB_SIZE, blocks, encode, hold_out, hub_documents, pydoc_topics, split_topics,
)
from ucdbench_plugins.tasks.pydocs.passages import PASSAGE, deduplicate, verbatim_overlap, windows
from ucdbench_plugins.tasks.pydocs.task import PyDocs

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


def test_no_eval_or_validation_passage_of_200_bytes_is_in_the_text_trained_on(task):
    """The issue this pins: split by topic alone, 46% of the eval bytes lay in passages the
    base was pretrained on (``compound`` repeats ``if``, ``for``, ``try``, ``with``, ...)."""
    docs = task.documents
    assert all(docs[split] for split in ("pretrain", "train", "validation", "eval"))
    assert verbatim_overlap(docs["eval"], docs["pretrain"] + docs["train"] + docs["validation"]) == 0.0
    assert verbatim_overlap(docs["validation"], docs["pretrain"] + docs["train"]) == 0.0
    assert verbatim_overlap(docs["train"], docs["pretrain"]) == 0.0


def test_the_overlap_measure_counts_exactly_the_bytes_of_planted_passages(task):
    docs = task.documents
    source = max(docs["pretrain"], key=len).encode()
    planted = source[1000:1000 + 3 * PASSAGE].decode("utf-8", "ignore")
    short = source[5000:5000 + PASSAGE - 1].decode("utf-8", "ignore")  # one byte short of a passage
    leaky = [*docs["eval"][:-1], docs["eval"][-1] + "\0" + planted + "\0" + short]  # no topic has a NUL
    total = sum(len(text.encode()) for text in leaky)
    assert verbatim_overlap(leaky, docs["pretrain"]) == pytest.approx(len(planted.encode()) / total)
    assert verbatim_overlap([planted], docs["pretrain"]) == 1.0
    assert verbatim_overlap([short], docs["pretrain"]) == 0.0
    assert verbatim_overlap([planted + planted], [planted]) == 1.0  # bytes covered twice count once


def test_the_topics_as_shipped_repeat_passages_that_deduplication_removes():
    topics = pydoc_topics()
    compound, parts = topics["compound"], [topics[name] for name in ("if", "while", "for", "try", "with")]
    assert verbatim_overlap([compound], parts) > 0.1  # what leaked into the eval split
    unique = deduplicate(topics)
    seen: set[bytes] = set()
    for name, text in unique.items():
        own = set(windows(text.encode()))
        assert not own & seen, name
        seen |= own
        paragraphs = iter(topics[name].split("\n\n"))
        assert all(p in paragraphs for p in text.split("\n\n")), name  # in order, each whole
    assert sum(map(len, unique.values())) < sum(map(len, topics.values()))


def test_deduplication_keeps_the_short_topic_whole_and_cuts_the_copy_out_of_the_long_one():
    own, shared, other = ("word " * 60).strip(), ("shared " * 50).strip(), ("else " * 70).strip()
    topics = {"long": f"{own}\n\n{shared}\n\nend", "short": shared, "apart": other}
    assert deduplicate(topics) == {"long": f"{own}\n\nend", "short": shared, "apart": other}
    # a passage across a paragraph break is found too
    first, second = "a" * 150 + "b", "c" * 150 + "d"
    assert deduplicate({"x": f"{first}\n\n{second}", "y": f"zz\n\n{first}\n\n{second}\n\nzz"}) == {
        "x": f"{first}\n\n{second}", "y": f"zz\n\n{first}\n\nzz"}


def test_hold_out_keeps_whole_documents_within_its_share_of_the_bytes():
    documents = [f"document {i} " * (i + 1) for i in range(20)]
    kept, held = hold_out(documents, 0.2)
    assert kept and held and sorted(kept + held) == sorted(documents)
    assert sum(len(d) for d in held) <= 0.2 * sum(len(d) for d in documents)
    assert hold_out(documents[::-1], 0.2) == (kept[::-1], held[::-1])  # by content, not position
    with pytest.raises(UcdbenchError, match="validation_fraction"):
        hold_out(["a" * 100, "b" * 100], 0.1)


def test_score_on_validation_scores_the_held_out_text_and_trains_on_the_same_blocks(task):
    config = {**PyDocs.defaults("smoke"), "score_on": "validation"}
    validation = PyDocs("smoke", 0, config)
    validation.prepare()
    assert torch.equal(validation.train_blocks, task.train_blocks)
    expected = blocks(encode(task.documents["validation"]), config["block_size"])
    assert torch.equal(validation.eval_blocks, expected[: config["eval_tokens"] // config["block_size"]])
    assert not torch.equal(validation.eval_blocks[:4], task.eval_blocks[:4])


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

    no_pretraining.__module__ = task._pretrain.__module__  # the same code, so the same cache key
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


# -- a hub base model (task.base): a tiny GPT-2 and byte-level BPE saved to a local folder ---------

EOS = "<|endoftext|>"


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory):
    """A tiny causal LM and its own tokenizer as ``save_pretrained`` writes them, built offline:
    a 400-token byte-level BPE trained on a few pydoc topics and a one-layer GPT-2."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(list(pydoc_topics().values())[:8], trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS)
    torch.manual_seed(1234)  # not the task's seed, so its random init differs from these weights
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=1, n_head=2,
                                       bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id))
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def hub_task(hub_folder):
    task = PyDocs("smoke", 0, {**PyDocs.defaults("smoke"), "base": str(hub_folder[0])})
    task.prepare()
    return task


def token_bytes(tokenizer, ids) -> bytes:
    """The raw bytes byte-level tokens spell (the end-of-text token spells none), decoded with
    transformers' own copy of GPT-2's byte alphabet, independently of the task's code."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    to_byte = {c: b for b, c in bytes_to_unicode().items()}
    return b"".join(b"" if i == tokenizer.eos_token_id else bytes(to_byte[c] for c in tokenizer.convert_ids_to_tokens(i))
                    for i in ids)


def test_hub_base_encodes_with_its_own_tokenizer_and_loads_its_own_weights(hub_folder, hub_task, monkeypatch):
    saved = hub_folder[1]
    tokenizer = hub_task.tokenizer
    assert hub_task.eval_blocks.max() < len(tokenizer) and hub_task.eval_blocks.shape[1] == 64
    assert (hub_task.eval_blocks == tokenizer.eos_token_id).any()  # documents separated by EOS
    eval_text = "".join(hub_task.documents["eval"]).encode()
    assert eval_text.startswith(token_bytes(tokenizer, hub_task.eval_blocks.flatten().tolist()))

    def no_pretraining():
        raise AssertionError("a hub base is not pretrained in-suite")

    monkeypatch.setattr(hub_task, "_pretrain", no_pretraining)
    first, second = hub_task.base_model(pretrained=True), hub_task.base_model(pretrained=True)
    for name, tensor in first.state_dict().items():
        assert tensor.dtype == torch.float32 and torch.equal(tensor, saved[name]), name
    with torch.no_grad():
        first.transformer.wte.weight.zero_()
    assert torch.equal(second.transformer.wte.weight, saved["transformer.wte.weight"])  # a fresh copy each call
    scratch = hub_task.base_model(pretrained=False).state_dict()
    assert {k: v.shape for k, v in scratch.items()} == {k: v.shape for k, v in saved.items()}
    assert not torch.equal(scratch["transformer.h.0.attn.c_attn.weight"], saved["transformer.h.0.attn.c_attn.weight"])
    assert torch.equal(scratch["transformer.wte.weight"], hub_task.base_model(pretrained=False).transformer.wte.weight)


def test_hub_base_bits_per_byte_divides_by_the_real_bytes_of_the_scored_text(hub_task):
    model = hub_task.base_model(pretrained=True)
    metrics = hub_task.evaluate(model, CPU)
    assert math.isfinite(metrics["perplexity"]) and 1 < metrics["perplexity"] < 2 * len(hub_task.tokenizer)
    nats, scored_bytes = 0.0, 0
    with torch.no_grad():
        for block in hub_task.eval_blocks:
            logits = model(block[None]).logits[0, :-1]
            nats += float(torch.nn.functional.cross_entropy(logits, block[1:], reduction="sum"))
            scored_bytes += len(token_bytes(hub_task.tokenizer, block[1:].tolist()))  # a block's first token is not scored
    assert scored_bytes > hub_task.eval_blocks[:, 1:].numel()  # BPE tokens average several bytes
    assert metrics["nll"] == pytest.approx(nats / hub_task.eval_blocks[:, 1:].numel(), rel=1e-5)
    assert metrics["bits_per_byte"] == pytest.approx(nats / math.log(2) / scored_bytes, rel=1e-5)


def test_bytes_per_token_are_exact_and_sum_to_each_document(hub_task):
    from ucdbench_plugins.tasks.pydocs.data import encode_with

    tokenizer = hub_task.tokenizer
    documents = ["naïve “café” — 日本語 ß", "plain ascii", "<|endoftext|> is text inside a document"]
    ids, n_bytes = encode_with(tokenizer, documents)
    assert (ids == tokenizer.eos_token_id).sum() == len(documents)  # a literal EOS string stays text
    for token, count in zip(ids.tolist(), n_bytes.tolist()):
        assert count == len(token_bytes(tokenizer, [token]))
    assert token_bytes(tokenizer, ids.tolist()) == "".join(documents).encode()
    # the fallback for tokenizers that are not byte-level: character offsets, exact per document
    offset_ids, offset_bytes = encode_with(tokenizer, documents, use_offsets=True)
    assert torch.equal(offset_ids, ids)
    ends = (ids == tokenizer.eos_token_id).nonzero().flatten().tolist()
    for doc, start, end in zip(documents, [-1, *ends], ends):
        assert int(offset_bytes[start + 1:end + 1].sum()) == len(doc.encode())


@pytest.mark.parametrize("method", ["nola", "lora"])
def test_adapter_methods_fit_a_hub_base(hub_task, method):
    from ucdbench.contracts.interfaces import FitContext
    from ucdbench_plugins.methods.lora.method import LoRA
    from ucdbench_plugins.methods.nola.method import NOLA

    cls = {"nola": NOLA, "lora": LoRA}[method]
    ctx = FitContext(device=CPU, seed=0, preset="smoke", progress=lambda it, **_: it)
    outcome = cls().fit(hub_task, {**cls.defaults("smoke"), "epochs": 0.2}, ctx)
    assert math.isfinite(hub_task.evaluate(outcome.model, CPU)["perplexity"])
    if method == "nola":  # Q and V of the one layer: two matrices, k and l coefficients each
        assert outcome.artifact.tensors["a"].shape == (2, 32) and outcome.artifact.tensors["b"].shape == (2, 32)


def test_hub_base_rejects_in_suite_model_settings_and_too_long_blocks(hub_folder):
    base = {**PyDocs.defaults("smoke"), "base": str(hub_folder[0])}
    with pytest.raises(UcdbenchError, match=r"task.n_layer=12 \(the checkpoint has 1\).*checkpoint decides"):
        PyDocs("smoke", 0, {**base, "n_layer": 12}).prepare()
    with pytest.raises(UcdbenchError, match="task.pretrain_steps=5.*in-suite base only"):
        PyDocs("smoke", 0, {**base, "pretrain_steps": 5}).prepare()
    with pytest.raises(UcdbenchError, match="context of 128 tokens"):
        PyDocs("smoke", 0, {**base, "block_size": 256}).prepare()


def test_missing_local_folder_is_named():
    with pytest.raises(UcdbenchError, match="is not a folder"):
        PyDocs("smoke", 0, {**PyDocs.defaults("smoke"), "base": "./no-such-model-folder"}).prepare()


@pytest.fixture
def network_attempts(monkeypatch):
    """Every attempt to reach the network from now on (a name lookup or a connection), each
    refused as an unreachable network would refuse it, in the order made."""
    import socket

    attempts: list[str] = []

    def refuse(what):
        def refused(*args, **kwargs):
            attempts.append(f"{what}{args[1:] if what == 'connect' else args[:2]}")
            raise OSError(f"test: no network ({what})")
        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    return attempts


@pytest.mark.skipif(os.environ.get("HF_HUB_OFFLINE", "") in ("", "0"), reason="needs HF_HUB_OFFLINE=1")
def test_uncached_hub_base_offline_fails_with_the_reason_without_reaching_the_network(network_attempts):
    with pytest.raises(UcdbenchError, match="HF_HUB_OFFLINE.*not in the local Hugging Face cache.*run once online"):
        PyDocs("smoke", 0, {**PyDocs.defaults("smoke"), "base": "ucdbench-tests/no-such-model"}).prepare()
    assert network_attempts == []


def test_a_run_through_the_harness_on_a_hub_base_records_every_evaluation(hub_folder, tmp_path):
    from ucdbench.discovery.registry import load_registry
    from ucdbench.running.runner import RunSpec, execute, resolve
    from ucdbench.running.store import RunStore

    overrides = {"task.base": str(hub_folder[0]), "epochs": 0.2, "k": 8, "l": 8}
    run = resolve(load_registry(), RunSpec("nola", "pydocs", "smoke", 0, "cpu", overrides))
    record = execute(run, "cpu", RunStore(tmp_path))
    assert record["status"] == "ok", record.get("traceback")
    figures = record["evaluations"]
    assert math.isfinite(figures["accuracy"]["bits_per_byte"])
    assert figures["compression"]["stored_scalars"] == 2 * (8 + 8)  # Q and V of the one layer
    assert figures["reconstruction"]["weights_equal"] is True


# -- task.dataset=pysource: standard-library Python source, a shift from prose to code ------------


@pytest.fixture(scope="module")
def source_task():
    task = PyDocs("smoke", 0, {**PyDocs.defaults("smoke"), "dataset": "pysource"})
    task.prepare()
    return task


def test_source_split_is_deterministic_disjoint_and_within_its_budgets():
    from ucdbench_plugins.tasks.pydocs.sources import SharedPassages, split_sources, stdlib_files, stdlib_folder

    files, budgets = stdlib_files(stdlib_folder()), {"train": 32_000, "eval": 8_000}
    shared = SharedPassages(pydoc_topics().values())
    split = split_sources(files, budgets, shared)
    assert split == split_sources(dict(reversed(list(files.items()))), budgets, shared)
    assert split["eval"] and split["train"] and not set(split["eval"]) & set(split["train"])
    for name, chosen in split.items():
        assert sum(len(text.encode()) for text in chosen.values()) <= budgets[name]
        for path, text in chosen.items():
            assert text.encode() == files[path].read_bytes()  # whole files, as they are on disk
            assert not {"pydoc_data", "test", "site-packages"} & set(path.split("/")), path


def test_no_passage_of_the_pretraining_text_reaches_the_adaptation_text(source_task):
    """Every 200-byte window of the adaptation text, looked up in every 200-byte window of the
    pydoc topics (the pretraining split and the rest): no match, by brute force."""
    width = 200
    windows = set()
    for text in [*source_task.source_corpus.documents["train"], *source_task.source_corpus.documents["eval"]]:
        data = text.encode()
        windows.update(data[i:i + width] for i in range(len(data) - width + 1))
    assert windows and source_task.topic_split["pretrain"]
    for name, topic in pydoc_topics().items():  # every topic: the pretraining split's and the others
        text = topic.encode()
        assert not any(text[i:i + width] in windows for i in range(len(text) - width + 1)), name


def test_a_file_sharing_a_pydoc_passage_or_outside_the_core_library_is_left_out(tmp_path):
    from ucdbench_plugins.tasks.pydocs.sources import read_sources

    topic = max(pydoc_topics().values(), key=len)
    code = "def f(x):\n    return x + 1\n" * 20
    files = {
        "plain.py": code,
        "quotes_the_docs.py": code + '"""' + topic[1000:1250] + '"""\n',
        "pydoc_data/topics.py": code, "test/test_plain.py": code, "site-packages/pkg.py": code,
        "_sysconfigdata__linux.py": code, "idlelib/editor.py": code, "encodings/cp1252.py": code,
        "notes.txt": code, "sub/also_plain.py": code.replace("1", "2"),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "latin1.py").write_bytes(code.encode() + b"# caf\xe9\n")  # not UTF-8
    corpus = read_sources({"train": 10_000, "eval": len(code)}, pydoc_topics().values(), root=tmp_path)
    assert sorted(corpus.documents["eval"] + corpus.documents["train"]) == sorted([code, code.replace("1", "2")])
    assert corpus.files == {"eval": 1, "train": 1} and corpus.bytes == {"eval": len(code), "train": len(code)}


def test_the_source_corpus_says_what_was_read(source_task):
    import hashlib
    import platform

    corpus = source_task.source_corpus.describe()
    assert corpus["python"] == platform.python_version()
    for split in ("train", "eval"):
        documents = source_task.source_corpus.documents[split]
        assert corpus["files"][split] == len(documents) > 0
        assert corpus["bytes"][split] == sum(len(d.encode()) for d in documents) <= source_task.config[f"source_{split}_bytes"]
        assert corpus["sha256"][split] == hashlib.sha256("\0".join(documents).encode()).hexdigest()
    eval_ids = [b for d in source_task.source_corpus.documents["eval"] for b in [*d.encode(), END_OF_TEXT]]
    scored = source_task.eval_blocks.flatten().tolist()
    assert scored == eval_ids[:len(scored)]  # the eval blocks are that text's bytes, documents apart


def test_source_sizes_are_refused_for_another_dataset():
    with pytest.raises(UcdbenchError, match="task.source_train_bytes=1000.*task.dataset=pysource"):
        PyDocs("smoke", 0, {**PyDocs.defaults("smoke"), "source_train_bytes": 1000}).prepare()


def test_bits_per_byte_of_source_counts_its_utf8_bytes_not_its_characters(tmp_path, monkeypatch):
    """A standard library of non-ASCII source: a uniform model's bits per byte is ln 257 nats per
    scored token over the UTF-8 bytes those tokens are, which here are fewer than characters."""
    from ucdbench_plugins.tasks.pydocs import sources

    line = "name = 'naïve café — 日本語 ß'  # ünïcödé\n"
    for i in range(4):
        (tmp_path / f"mod{i}.py").write_text(line * (30 + i))
    monkeypatch.setattr(sources, "stdlib_folder", lambda: tmp_path)
    config = {**PyDocs.defaults("smoke"), "dataset": "pysource", "source_eval_bytes": 2_500, "source_train_bytes": 10_000,
              "validation_fraction": 0.4}  # one of the three training files
    task = PyDocs("smoke", 0, config)
    task.prepare()
    ids = [b for doc in task.source_corpus.documents["eval"] for b in [*doc.encode(), None]]  # None: end of text
    size = config["block_size"]
    scored = [token for start in range(0, len(ids) // size * size, size) for token in ids[start + 1:start + size]]
    scored_bytes = sum(token is not None for token in scored)
    scored_characters = len(bytes(t for t in scored if t is not None).decode(errors="ignore"))
    assert scored_characters < 0.9 * scored_bytes and len(scored) == task.eval_blocks[:, 1:].numel()

    model = task.base_model(pretrained=False)
    with torch.no_grad():
        model.transformer.wte.weight.zero_()  # tied to the output layer: every logit is 0
    metrics = task.evaluate(model, CPU)
    assert metrics["bits_per_byte"] == pytest.approx(len(scored) * math.log2(VOCAB_SIZE) / scored_bytes, rel=1e-5)


def test_source_text_goes_through_a_hub_base_tokenizer(hub_folder):
    task = PyDocs("smoke", 0, {**PyDocs.defaults("smoke"), "base": str(hub_folder[0]), "dataset": "pysource"})
    task.prepare()
    eval_text = "".join(task.source_corpus.documents["eval"]).encode()
    assert eval_text.startswith(token_bytes(task.tokenizer, task.eval_blocks.flatten().tolist()))
    assert math.isfinite(task.evaluate(task.base_model(pretrained=True), CPU)["bits_per_byte"])


def test_a_source_budget_no_file_fits_is_refused(tmp_path):
    from ucdbench_plugins.tasks.pydocs.sources import read_sources

    (tmp_path / "mod.py").write_text("x = 1\n" * 100)
    with pytest.raises(UcdbenchError, match="no standard-library source file fits task.source_eval_bytes=10"):
        read_sources({"train": 10_000, "eval": 10}, pydoc_topics().values(), root=tmp_path)
