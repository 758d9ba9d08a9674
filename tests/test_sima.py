"""SimA's invariants: both multiplication orders agree, normalised columns have L1 norm 1,
the output is linear in v; the module swap keeps a timm ViT working and trainable."""

import re

import pytest
import torch

from ucdbench_plugins.methods.sima.attention import SimAAttention, sima_attention, sima_normalize, use_sima_attention


@pytest.mark.parametrize("n_tokens, head_dim", [(7, 16), (50, 8)])
def test_both_orders_agree(n_tokens, head_dim):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, n_tokens, head_dim, dtype=torch.float64) for _ in range(3))
    a = sima_attention(q, k, v, order="qk_first")
    b = sima_attention(q, k, v, order="kv_first")
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(sima_attention(q, k, v), a, rtol=1e-10, atol=1e-12)


def test_float32_orders_agree_within_tolerance():
    torch.manual_seed(1)
    q, k, v = (torch.randn(1, 2, 300, 32) for _ in range(3))
    torch.testing.assert_close(sima_attention(q, k, v, "qk_first"), sima_attention(q, k, v, "kv_first"),
                               rtol=1e-4, atol=1e-5)


def test_normalised_columns_have_unit_l1_norm():
    torch.manual_seed(2)
    t = torch.randn(2, 4, 33, 8) * 5
    norms = sima_normalize(t).abs().sum(dim=-2)
    torch.testing.assert_close(norms, torch.ones_like(norms))


def test_output_is_linear_in_v():
    torch.manual_seed(3)
    q, k, v1, v2 = (torch.randn(1, 2, 20, 8, dtype=torch.float64) for _ in range(4))
    a, b = 2.5, -0.7
    lhs = sima_attention(q, k, a * v1 + b * v2)
    rhs = a * sima_attention(q, k, v1) + b * sima_attention(q, k, v2)
    torch.testing.assert_close(lhs, rhs)


def test_unknown_order_is_rejected():
    q = torch.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="order"):
        sima_attention(q, q, q, order="sideways")


@pytest.mark.parametrize("heads", [None, 1])
def test_swap_into_timm_vit(heads):
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    model = VisionTransformer(img_size=8, patch_size=2, in_chans=1, num_classes=3, embed_dim=16,
                              depth=2, num_heads=2, mlp_ratio=2.0)
    use_sima_attention(model, heads)
    assert all(isinstance(b.attn, SimAAttention) for b in model.blocks)
    assert all(b.attn.num_heads == (heads or 2) for b in model.blocks)
    x = torch.rand(5, 1, 8, 8)
    loss = model(x).logsumexp(-1).mean()
    loss.backward()
    assert model.blocks[0].attn.qkv.weight.grad.abs().sum() > 0


def test_latency_sweep_counts_linear_vs_quadratic_flops(tmp_path, monkeypatch):
    """The sweep's rows: SimA's FLOPs grow linearly in N past d_h, softmax's quadratically; the
    table and plot are written, naming the commit and giving each time as mean ± CI over the
    repeats (times are printed by the benchmark command, not asserted)."""
    from ucdbench.running.environment import git_commit

    monkeypatch.setenv("UCDBENCH_LOCK_DIR", str(tmp_path / "locks"))  # this test's own machine lock
    from ucdbench_plugins.methods.sima.latency_sweep import main, sweep
    from ucdbench_plugins.hardware.cpu import CPU

    small, large = sweep(CPU(), torch.device("cpu"), lengths=(128, 512), width=16, heads=1, repeats=1, warmup=0)
    assert small["sima_order"] == large["sima_order"] == "q(kᵀv)"
    assert large["sima_gflops"] / small["sima_gflops"] == pytest.approx(4.0, rel=0.01)
    assert large["sdpa_gflops"] / small["sdpa_gflops"] == pytest.approx(16.0, rel=0.01)
    assert small["sima_ms"] > 0 and small["sdpa_ms"] > 0
    main(["--lengths", "16", "64", "--width", "16", "--repeats", "3", "--out", str(tmp_path)])
    table = (tmp_path / "sima_latency_cpu.md").read_text()
    assert "| 16 | (qkᵀ)v |" in table and "| 64 | q(kᵀv) |" in table
    assert f"project commit `{git_commit()}`" in table and "--repeats 3" in table
    assert "n = 3 timed repeats" in table and "95% confidence interval" in table
    cells = [line.split("|")[3:5] for line in table.splitlines() if line.startswith("| 16 ")][0]
    assert all(re.fullmatch(r" \d+\.\d{3}( ± \S+)? ", cell) for cell in cells), cells
    assert (tmp_path / "locks" / "ucdbench-machine.lock").exists()  # it timed holding the machine lock
    share = re.search(r"the sweep's process had (\d+\.\d)% of its 1 core\(s\)", table)
    assert share and 0 < float(share.group(1)) <= 100 and "when it ended:" in table
    assert (tmp_path / "sima_latency_cpu.png").stat().st_size > 0


def test_sima_method_trains_a_digits_classifier(tmp_path):
    """The method end to end at smoke scale: every block runs SimA, it learns (well above the
    20% of chance on five classes), the artifact rebuilds the scored weights, and the file and
    the task alone rebuild the scored model — SimA with the head count it was trained with,
    which the task's ViT (2 heads at smoke) does not say — scoring exactly as it did."""
    from ucdbench.running.artifacts import read_artifact, write_artifact
    from ucdbench.contracts.interfaces import FitContext
    from ucdbench_plugins.tasks.images.datasets import Digits
    from ucdbench_plugins.methods.sima.method import SimA

    task = Digits("smoke", 0, Digits.defaults("smoke"))
    task.prepare()
    ctx = FitContext(torch.device("cpu"), 0, "smoke", lambda items, **_: items)
    outcome = SimA().fit(task, {**SimA.defaults("smoke"), "epochs": 12, "heads": 1}, ctx)
    assert all(isinstance(b.attn, SimAAttention) and b.attn.num_heads == 1 for b in outcome.model.blocks)
    scores = task.evaluate(outcome.model, torch.device("cpu"))
    assert scores["top1"] > 50
    rebuilt = outcome.reconstruct(outcome.artifact, torch.device("cpu"))
    assert all(torch.equal(rebuilt[k], v) for k, v in outcome.scored_state().items())
    assert task.base_model(pretrained=False).blocks[0].attn.num_heads == 2
    write_artifact(tmp_path / "sima.safetensors", outcome.artifact)
    model = SimA().rebuild_model(task, read_artifact(tmp_path / "sima.safetensors"), torch.device("cpu"))
    assert all(isinstance(b.attn, SimAAttention) and b.attn.num_heads == 1 for b in model.blocks)
    assert task.evaluate(model, torch.device("cpu")) == scores


def test_sima_settings_say_what_is_valid():
    from ucdbench.contracts.interfaces import UcdbenchError
    from ucdbench_plugins.methods.sima.method import SimA, SoftmaxViT

    heads = SimA.settings["heads"]
    assert heads.problem("model") is None and heads.problem(4) is None
    assert all(heads.problem(value) for value in (0, -1, 1.5, "all", True))
    assert "heads" not in SoftmaxViT.settings  # the baseline keeps softmax attention as it is
    with pytest.raises(UcdbenchError, match="heads=3.*divides the width"):
        SimA().attend(vit_of_width_32(), 3)


def vit_of_width_32():
    """A timm ViT of width 32 (2 heads): 3 heads do not divide it."""
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=8, patch_size=2, in_chans=1, num_classes=5, embed_dim=32, depth=1, num_heads=2)


def test_latency_sweep_reports_energy_where_the_hardware_meters_it():
    from ucdbench_plugins.hardware.cpu import CPU
    from ucdbench.contracts.interfaces import EnergyMeter
    from ucdbench_plugins.methods.sima.latency_sweep import markdown, sweep

    class CountingMeter(EnergyMeter):
        """2 mJ more on every read: each timed call sits between two reads' worth of energy."""

        def __init__(self) -> None:
            self.reads = 0

        def joules(self) -> float:
            self.reads += 1
            return 0.002 * self.reads

    class MeteredCPU(CPU):
        def energy_meter(self, device):
            return CountingMeter()

    rows = sweep(MeteredCPU(), torch.device("cpu"), lengths=(32,), width=16, repeats=4, warmup=0)
    # one read before and one after 4 calls: 2 mJ over 4 calls
    assert rows[0]["sima_mj"] == pytest.approx(0.5) and rows[0]["sdpa_mj"] == pytest.approx(0.5)
    assert rows[0]["repeats"] == 4 and rows[0]["sima_ms_ci"] is not None
    page = markdown(rows, {"name": "test", "kind": "cpu"}, 1, "abc123", "the command", "the conditions")
    assert "SimA mJ" in page and "project commit `abc123`" in page
