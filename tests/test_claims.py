"""Claims judged on records (ucdbench.reporting.claims), on records written here: which runs a
claim reads (ok, its task, its preset; one verdict per machine), a selector that matches several
rows (ambiguous, never mixed), the direction a claim states, and the table every verdict prints in."""

from __future__ import annotations

from ucdbench.reporting.claims import Claim, ClaimVerdict, RowSelector, claims_markdown, judge_claims

CPU = {"kind": "cpu", "name": "Xeon", "threads": 1}
GPU = {"kind": "cuda", "name": "H100"}
FIGURE = "accuracy/top1"


def _run(method: str, seed: int, value, *, settings=None, hardware=CPU, status="ok", task="digits", preset="smoke",
         higher_is_better=True) -> dict:
    return {"method": {"name": method, "config": settings or {}}, "task": {"name": task, "config": {}},
            "seed": seed, "status": status, "preset": preset, "hardware": hardware,
            "evaluations": {"accuracy": {"top1": value}},
            "figures": {"accuracy": [{"name": "top1", "higher_is_better": higher_is_better}]}}


def _claim(**fields) -> Claim:
    return Claim(**{"name": "lora beats full", "task": "digits", "figures": (FIGURE,), "better": RowSelector("lora"),
                    "than": RowSelector("full-ft"), "preset": "smoke", **fields})


def _pair(hardware=CPU, shift=1.0, **run) -> list[dict]:
    """Three seeds of each row, lora ``shift`` above full-ft on every seed."""
    return [r for seed in range(3) for r in (_run("lora", seed, 80.0 + seed + shift, hardware=hardware, **run),
                                             _run("full-ft", seed, 80.0 + seed, hardware=hardware, **run))]


def test_a_claim_reads_ok_runs_of_its_task_and_preset_and_is_judged_per_machine():
    noise = [_run("lora", 0, 0.0, status="failed"), _run("full-ft", 0, 99.0, task="mnist"),
             _run("lora", 1, 0.0, preset="paper"), _run("full-ft", 2, 0.0, preset="paper", task="mnist")]
    verdicts = judge_claims([_claim()], _pair() + _pair(GPU, shift=-1.0) + noise)
    assert [(v.hardware, v.figure, v.verdict) for v in verdicts] == [
        ("cpu: Xeon, 1 thread", FIGURE, "holds"), ("cuda: H100", FIGURE, "does not hold")]
    assert [v.comparison.mean_difference for v in verdicts] == [1.0, -1.0]
    assert all(v.comparison.seeds == (0, 1, 2) for v in verdicts)


def test_a_claim_needs_runs_of_both_rows():
    only_lora = [r for r in _pair() if r["method"]["name"] == "lora"]
    assert judge_claims([_claim()], only_lora) == []
    assert judge_claims([_claim(better=RowSelector("full-ft"), than=RowSelector("lora"))], only_lora) == []


def test_the_claim_s_direction_overrides_the_figure_s_and_none_takes_the_declared_one():
    lower = _pair(higher_is_better=False)
    assert judge_claims([_claim()], lower)[0].verdict == "does not hold"  # up on a lower-is-better figure
    assert judge_claims([_claim(higher_is_better=True)], lower)[0].verdict == "holds"
    assert judge_claims([_claim(higher_is_better=False)], _pair())[0].verdict == "does not hold"


def test_a_selector_that_matches_several_rows_is_ambiguous_and_says_what_tells_them_apart():
    runs = _pair() + [_run("lora", s, 70.0, settings={"rank": 4, "alpha": 1}) for s in range(3)]
    runs = [{**r, "method": {**r["method"], "config": {"rank": 8, "alpha": 1}}} if r["method"]["name"] == "lora"
            and not r["method"]["config"] else r for r in runs]
    (verdict,) = judge_claims([_claim()], runs)
    assert verdict.comparison is None and (verdict.hardware, verdict.figure) == ("cpu: Xeon, 1 thread", FIGURE)
    assert verdict.verdict == ("ambiguous: lora matches 2 rows (rank=8; rank=4): "
                               "add the settings that tell them apart")
    (told,) = judge_claims([_claim(better=RowSelector("lora", {"rank": 8}))], runs)
    assert told.verdict == "holds" and told.comparison.n == 3
    both = judge_claims([_claim(better=RowSelector("lora"), than=RowSelector("lora"))], runs)[0].verdict
    assert both == "ambiguous: " + " ".join(["lora matches 2 rows (rank=8; rank=4): add the settings that tell them "
                                             "apart"] * 2)


def test_runs_typed_differently_with_the_same_resolved_settings_are_one_row():
    runs = _pair() + [{**r, "method": {"name": "lora", "config": {"b": 1, "a": 2}}} for r in _pair()
                      if r["method"]["name"] == "lora"]
    runs = [{**r, "method": {"name": "lora", "config": {"a": 2, "b": 1}}} if r["method"]["name"] == "lora"
            and not r["method"]["config"] else r for r in runs]
    (verdict,) = judge_claims([_claim()], runs)
    assert verdict.comparison is not None  # key order is no setting


def test_a_figure_a_run_lacks_or_reports_as_a_flag_is_not_read():
    def without(run: dict, key: str) -> dict:
        return {k: v for k, v in run.items() if k != key}

    odd = [without(_run("lora", 5, 1.0), "evaluations"), without(_run("full-ft", 5, 1.0), "figures"),
           _run("lora", 6, 1.0) | {"evaluations": {"other": {}}}, _run("full-ft", 6, 1.0) | {"figures": {"other": []}},
           _run("lora", 7, True), _run("full-ft", 7, 1.0)]
    (verdict,) = judge_claims([_claim()], odd + _pair())  # the odd runs first: each is read before a good one
    assert verdict.comparison.seeds == (0, 1, 2) and verdict.verdict == "holds"


def test_a_row_selector_reads_as_method_settings_and_figure():
    assert str(RowSelector("lora")) == "lora"
    assert str(RowSelector("lora", {"rank": 8, "alpha": 16})) == "lora (alpha=16, rank=8)"
    assert str(RowSelector("lora", figure="attack/success")) == "lora [attack/success]"


def test_the_claims_table_has_a_line_per_claim_figure_and_machine():
    claim = _claim(figures=(FIGURE, "latency/p50_ms"))
    runs = _pair() + [_run("lora", 0, 1.0, hardware=GPU), _run("full-ft", 0, 0.0, hardware=GPU)]
    verdicts = judge_claims([claim], runs)
    ambiguous = ClaimVerdict(claim, FIGURE, "cpu: other", None, "ambiguous: lora matches 2 rows")
    head = f"| lora beats full | digits | {FIGURE} | lora | full-ft |"
    assert claims_markdown([claim], verdicts + [ambiguous]).split("\n") == [
        "| claim | task | figure | better | than | hardware | difference | n | p | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"{head} cpu: Xeon, 1 thread | +1 (better) | 3 | p < 0.001 | **holds** |",
        f"{head} cuda: H100 | +1 (better) | 1 | – | **untestable** |",
        f"{head} cpu: other | – | – | – | ambiguous: lora matches 2 rows |",
        "| lora beats full | digits | latency/p50_ms | lora | full-ft | – | – | – | – | no runs of both rows report it |",
    ]
    assert (ambiguous.difference(), ambiguous.p()) == ("–", "–")


def test_an_ambiguous_claim_is_a_line_of_its_table_naming_every_setting_that_tells_the_rows_apart():
    runs = _pair() + [_run("lora", s, 70.0, settings={"rank": 4, "alpha": 2}) for s in range(3)]
    runs = [{**r, "method": {**r["method"], "config": {"rank": 8, "alpha": 1}}} if r["method"]["name"] == "lora"
            and not r["method"]["config"] else r for r in runs]
    claim = _claim()
    line = claims_markdown([claim], judge_claims([claim], runs)).split("\n")[2]
    assert line == (f"| lora beats full | digits | {FIGURE} | lora | full-ft | cpu: Xeon, 1 thread | – | – | – | "
                    "ambiguous: lora matches 2 rows (alpha=1, rank=8; alpha=2, rank=4): add the settings that tell "
                    "them apart |")
