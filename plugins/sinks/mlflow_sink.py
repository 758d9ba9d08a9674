"""The ``mlflow`` sink: each run an MLflow run, in an experiment named after the experiment file.

Through ``MlflowClient`` (no global active run, so nothing leaks between runs): the resolved
configuration as params, tags for the commit (``mlflow.source.git.commit``, which MLflow's UI
shows), the code fingerprint, the hardware and the run key; curves as metrics at their epochs'
steps, while the run fits; figures as metrics; the artifact file and the record as artifacts. A
run handed again with new figures (``ucdbench evaluate``) continues the MLflow run of its key.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path

from ucdbench.api import Sink, SinkRun

PARAM_CHARS = 6000
"""MLflow's longest param value; a longer setting (a long list) is cut to it."""


class MLflowSink(Sink):
    name = "mlflow"
    target_help = ("an MLflow tracking URI: http://HOST:PORT of a tracking server, sqlite:///mlflow.db, or a folder "
                   "(default: MLFLOW_TRACKING_URI, else MLflow's own default, ./mlruns)")

    def __init__(self) -> None:
        self.client, self.experiment_id, self.runs = None, None, {}

    def unavailable_reason(self) -> str | None:
        return None if find_spec("mlflow") else "MLflow is not installed; pip install 'ucdbench[mlflow]'"

    def open(self, target: str | None, experiment: str) -> None:
        # A server that is down must cost seconds, not MLflow's minutes of retries per call.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        if target and target.startswith(("http://", "https://")):
            urllib.request.urlopen(f"{target.rstrip('/')}/health", timeout=10).close()  # raises where unreachable
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=target)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)

    def start(self, run: SinkRun) -> None:
        from mlflow.entities import Param

        earlier = self.client.search_runs([self.experiment_id], f"tags.`ucdbench/ucdbench` = '{run.key}'",
                                          max_results=1)
        if earlier:  # handed again with new figures (`ucdbench evaluate`): the same MLflow run goes on
            self.runs[run.key] = earlier[0].info.run_id
            self.client.update_run(earlier[0].info.run_id, status="RUNNING")
            return
        tags = {"mlflow.source.git.commit": run.tags.get("commit", ""), "ucdbench/status": run.status,
                **{f"ucdbench/{k}": v for k, v in run.tags.items()}}
        created = self.client.create_run(self.experiment_id, run_name=run.name, tags=tags)
        self.runs[run.key] = created.info.run_id
        params = [Param(k, json.dumps(v) if not isinstance(v, str) else v) for k, v in run.params.items()]
        self.client.log_batch(created.info.run_id, params=[Param(p.key, p.value[:PARAM_CHARS]) for p in params])

    def curve(self, run: SinkRun, name: str, points: Sequence[tuple[float, float]]) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        self.client.log_batch(self.runs[run.key], metrics=[Metric(name, value, stamp, self.step_of(epoch))
                                                           for epoch, value in points])

    def finish(self, run: SinkRun, figures: Mapping[str, float], artifact: Path | None) -> None:
        from mlflow.entities import Metric

        run_id, stamp = self.runs.pop(run.key), int(time.time() * 1000)
        metrics = [Metric(name, value, stamp, 0) for name, value in figures.items()]
        for start in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics a batch
            self.client.log_batch(run_id, metrics=metrics[start:start + 1000])
        if artifact is not None:
            self.client.log_artifact(run_id, str(artifact))
        self.client.log_text(run_id, json.dumps(run.record, indent=2, sort_keys=True, default=str), "record.json")
        self.client.set_tag(run_id, "ucdbench/status", run.status)
        self.client.set_terminated(run_id, "FINISHED")

    def fail(self, run: SinkRun, error: str) -> None:
        run_id = self.runs.pop(run.key)
        self.client.set_tag(run_id, "ucdbench/status", run.status)
        self.client.set_tag(run_id, "ucdbench/error", error[:5000])
        self.client.set_terminated(run_id, "FAILED")
