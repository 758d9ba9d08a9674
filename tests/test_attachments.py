"""Images an evaluation attaches to a run: stored beside the record, shown by the leaderboard."""

from __future__ import annotations

import types

import pytest

from ucdbench import hookimpl
from ucdbench.api import Evaluation
from ucdbench.running.executors import run_all
from ucdbench.reporting.leaderboard import write_leaderboards
from ucdbench.discovery.registry import load_registry
from ucdbench.running.runner import RunSpec
from ucdbench.running.store import RunStore

PIXELS = b"\x89PNG\r\n\x1a\n-not-decoded-by-anyone"


class _Snapshot(Evaluation):
    """Attaches one image per run, named after the method's model (so the test can tell runs apart)."""

    name = "snapshot"

    def measure(self, ctx):
        ctx.attach("inputs.png", PIXELS + type(ctx.outcome.model).__name__.encode(), "the first eval inputs")
        return {"images": 1}


def _registry():
    def hook(register):
        register(_Snapshot.name, _Snapshot)

    return load_registry(extra=[("snapshot-test", types.SimpleNamespace(ucdbench_register_evaluations=hookimpl(hook)))])


def test_attach_takes_plain_image_file_names_once(tmp_path):
    from ucdbench.contracts.interfaces import EvaluationContext

    ctx = EvaluationContext(task=None, outcome=None, hardware=None, device=None, preset="smoke", config={})
    ctx.attach("map.png", b"x", "a map")
    assert ctx.attached["map.png"].data == b"x" and ctx.attached["map.png"].caption == "a map"
    for bad in ("../map.png", "maps/map.png", "map.txt", "map"):
        with pytest.raises(ValueError, match="plain file name"):
            ctx.attach(bad, b"x", "")
    with pytest.raises(ValueError, match="twice"):
        ctx.attach("map.png", b"y", "again")


@pytest.mark.ucdbench_e2e
def test_attached_images_are_stored_with_the_run_and_shown_under_its_row(tmp_path):
    store = RunStore(tmp_path / "results")
    specs = [RunSpec("base", "digits", "smoke", seed, "cpu", {}) for seed in (1, 0)]
    records = list(run_all(_registry(), specs, store))
    assert [r["status"] for r in records] == ["ok", "ok"]
    for record in records:
        (attachment,) = record["attachments"]
        assert attachment == {"evaluation": "snapshot", "caption": "the first eval inputs",
                              "file": f"attachments/{record['key']}/snapshot/inputs.png"}
        assert (store.root / attachment["file"]).read_bytes().startswith(PIXELS)
        assert store.get(record["key"])["attachments"] == record["attachments"]  # in the record on disk

    out = tmp_path / "boards"
    (out / "digits-images").mkdir(parents=True)
    (out / "digits-images" / "stale.png").write_bytes(b"from an earlier build")
    write_leaderboards(store.scan()[0], out, store.root)
    board = (out / "digits.md").read_text()
    seed0 = next(r for r in records if r["seed"] == 0)
    shown = f"digits-images/{seed0['key'][:12]}-snapshot-inputs.png"
    assert "### images" in board and f"![the first eval inputs]({shown})" in board  # the row's lowest seed
    assert board.count("![the first eval inputs]") == 1
    assert (out / shown).read_bytes() == (store.root / seed0["attachments"][0]["file"]).read_bytes()
    assert not (out / "digits-images" / "stale.png").exists()

    (store.root / seed0["attachments"][0]["file"]).unlink()  # a results folder copied without its attachments
    write_leaderboards(store.scan()[0], out, store.root)
    assert "### images" not in (out / "digits.md").read_text()
