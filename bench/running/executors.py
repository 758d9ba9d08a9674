"""Where many runs execute: this host, a Ray cluster, or a Slurm cluster through submitit.

Records are the synchronisation point. Before anything is dispatched, the driver reads the
record of every run (:func:`select_runs`): a run recorded ``ok`` is a cache hit, a run another
live process is executing is left to it, a run whose process died is *interrupted* and runs
again only with ``--resume``; new and failed runs run, in an interleaved order (every
setting's first seed, then every setting's second, ...: :func:`interleaved`), so that the
seeds of one setting, which comparisons treat as independent samples, are not timed back to
back. Workers write their records into the results folder, which must be shared with them (a
network file system on a cluster), and also hand each record back to the driver, which writes
any the folder lacks, so the records reach the driver's folder even without sharing (the
artifacts and attachments do not: they stay where the worker wrote them).

Failures are of three kinds. A *method* failure (the run raised, its loss diverged) is recorded
as a failed run by the worker, which returns that record normally. A *worker* failure is an
exception out of :func:`execute_spec` itself: the worker refused the run (:class:`WorkerRefused`:
its code resolves another key, the run's hardware is not usable there) or the harness broke;
the run is recorded as failed with that reason (:func:`worker_failure`). Neither is retried:
the same worker would do the same again. An *infrastructure* failure (the worker process died,
a node was lost, a job was pre-empted or timed out) loses no result, so the executor retries
it, up to ``retries`` times, before recording it as failed with the reason
(:func:`infrastructure_failure`).

A cluster that is not there is a usage error before anything is dispatched, never a silent
fallback to this host.

- ``local``: one worker process per device of the run's hardware (one run at a time on a
  single device).
- ``ray``: one Ray task per run, with ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs (default:
  what the run's hardware declares it takes, :func:`gpus_per_run`); connects to ``address``
  (``auto``: the cluster running on this machine) within about
  3 × :data:`RAY_CONNECT_TIMEOUT_S` seconds, or starts a local one, which it shuts down when
  the driver ends (normally, on Ctrl-C or on SIGTERM). A cluster that does not answer or
  refuses the driver (Ray's token authentication) is a usage error. Ray's own
  ``max_retries`` retries tasks whose worker died.
- ``slurm``: one submitit job array per invocation and GPU count (``array_parallelism`` at a
  time), each job one run with ``gpus_per_job`` GPUs (default: what the run's hardware
  declares, :func:`gpus_per_run`); pre-empted and timed-out jobs requeue themselves
  (submitit's checkpointing), other lost jobs are resubmitted. Needs ``sbatch`` and ``srun``
  on the PATH (a Slurm login node); ``cluster="local"``, asked for by name, is submitit's dry
  run instead: the jobs as processes of this host, no queue, no partition (what the tests use).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import socket
import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.running.memory import memory_refusal, refuse_what_cannot_fit
from ucdbench.running.measuring import stale
from ucdbench.discovery.registry import Registry, load_registry
from ucdbench.running.runner import HEARTBEAT_S, ResolvedRun, RunSpec, execute, now, resolve
from ucdbench.running.store import SCHEMA_VERSION, RunStore

OnStart = Callable[[ResolvedRun, str], None]


class RunState(Enum):
    """What the results folder says of a run before it is dispatched."""

    NEW = "new"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    IN_PROGRESS = "in progress"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


HEARTBEAT_TIMEOUT_S = 10 * HEARTBEAT_S
"""After how long without a heartbeat a ``running`` record of another host is interrupted
(``--heartbeat-timeout``, or ``heartbeat_timeout_s`` in an experiment file's ``[executor]``)."""


def _seconds_since(timestamp: str | None) -> float:
    if not timestamp:
        return math.inf
    return (datetime.now(timezone.utc) - datetime.fromisoformat(timestamp)).total_seconds()


def run_state(record: Mapping[str, Any] | None, heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S) -> RunState:
    """The state of a run from its record. A ``running`` record of this host is in progress
    while its process lives; one of another host (whose process cannot be checked from here)
    while its heartbeat (:class:`ucdbench.running.runner.Heartbeat`) is younger than
    ``heartbeat_timeout_s``; otherwise it is interrupted (its machine or process died)."""
    if record is None:
        return RunState.NEW
    status = record.get("status")
    if status == "ok":
        return RunState.DONE
    if status == "running":
        if record.get("host") != socket.gethostname():
            beat = record.get("heartbeat_at") or record.get("started_at")
            return RunState.IN_PROGRESS if _seconds_since(beat) < heartbeat_timeout_s else RunState.INTERRUPTED
        return RunState.IN_PROGRESS if _alive(int(record.get("pid", 0))) else RunState.INTERRUPTED
    return RunState.FAILED


@dataclass(frozen=True)
class Selection:
    """The runs to dispatch, and what the records said of the others."""

    to_run: list[ResolvedRun]
    cached: list[dict[str, Any]]
    left: list[tuple[ResolvedRun, RunState, dict[str, Any]]]
    """Runs not dispatched: in progress elsewhere, or interrupted without ``--resume``."""


def select_runs(runs: Sequence[ResolvedRun], store: RunStore, force: bool = False, resume: bool = False,
                heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S) -> Selection:
    """Which runs to dispatch: all with ``force``; else new and failed runs, runs recorded ok
    whose measurements are stale (an evaluation installed or changed since: they are measured,
    not fitted again), interrupted ones with ``resume``, never one a live process is executing.
    Other ``ok`` records are returned as cached."""
    to_run, cached, left = [], [], []
    for run in runs:
        record = store.get(run.key)
        state = RunState.NEW if force else run_state(record, heartbeat_timeout_s)
        if state is RunState.DONE and not stale(run.measurements, record):
            cached.append({**record, "cached": True})
        elif state is RunState.DONE:  # fitted: a worker measures what the record lacks on the rebuilt outcome
            to_run.append(run)
        elif state is RunState.IN_PROGRESS or (state is RunState.INTERRUPTED and not resume):
            left.append((run, state, record))
        else:
            to_run.append(run)
    return Selection(interleaved(to_run), cached, left)


def _setting(spec: RunSpec) -> str:
    """What a run is apart from its seed."""
    return json.dumps([spec.method, spec.task, spec.preset, spec.hardware, spec.threads, spec.overrides],
                      sort_keys=True, default=str)


def interleaved(runs: Sequence[ResolvedRun]) -> list[ResolvedRun]:
    """``runs`` in dispatch order: every setting's first seed, then every setting's second, and
    so on, otherwise in the order given. The seeds of one setting are the samples a comparison
    treats as independent; run back to back they would share whatever the machine was doing
    then (a busy neighbour, a warm cache, thermal state)."""
    ordinal: Counter[str] = Counter()
    ranked = []
    for index, run in enumerate(runs):
        setting = _setting(run.spec)
        ranked.append((ordinal[setting], index, run))
        ordinal[setting] += 1
    return [run for _, _, run in sorted(ranked, key=lambda item: item[:2])]


def gpus_per_run(run: ResolvedRun) -> int:
    """The GPUs a cluster scheduler must give ``run``: what its hardware declares
    (``ucdbench.api.Hardware.accelerators_per_run``), never a guess from its name."""
    return run.hardware.load().accelerators_per_run()


class WorkerRefused(RuntimeError):
    """A worker would not execute the run it was sent: its code and plugins resolve another
    key than the driver's, or the run's hardware is not usable on its machine. Sending it
    again gives the same answer, so it is recorded (:func:`worker_failure`), never retried."""


def _failed(run: ResolvedRun, error: str) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "key": run.key, "status": "failed", "error": error,
            "method": {"name": run.spec.method}, "task": {"name": run.spec.task}, "seed": run.spec.seed,
            "preset": run.spec.preset, "overrides": run.spec.overrides, "finished_at": now()}


def infrastructure_failure(run: ResolvedRun, reason: str) -> dict[str, Any]:
    """The record of a run lost to the infrastructure after every retry."""
    return _failed(run, f"infrastructure: {reason}")


def worker_failure(run: ResolvedRun, error_type: str, message: str) -> dict[str, Any]:
    """The record of a run whose worker raised ``error_type`` (a class name, qualified or not)
    instead of returning a record: a refusal (:class:`WorkerRefused`) or a harness error."""
    if error_type.rsplit(".", 1)[-1] == WorkerRefused.__name__:
        return _failed(run, f"refused by the worker: {message}")
    return _failed(run, f"the worker raised {error_type}: {message}")


def execute_spec(spec: RunSpec, results_root: str, force: bool, expected_key: str, device: str | None = None) -> dict[str, Any]:
    """Run ``spec`` in a worker: resolve it again there, refuse (:class:`WorkerRefused`) if the
    worker's code or plugins give another key than the driver's (the run would not be the one
    asked for) or its hardware is not usable here, execute it on ``device`` (default: the first
    device of its hardware) and return the record (a failed one when the method failed)."""
    store = RunStore(results_root)
    run = resolve(load_registry(), spec, store)
    if run.key != expected_key:
        raise WorkerRefused(f"the worker resolves {spec.method} on {spec.task} to run {run.key[:12]}, the driver to "
                            f"{expected_key[:12]}: install the same ucdbench code and plugins on the workers")
    hardware = run.hardware.load()()
    reason = hardware.unavailable_reason()
    if reason:
        raise WorkerRefused(f"hardware {hardware.name!r} is not usable on {socket.gethostname()}: {reason}")
    device = device or hardware.devices()[0]
    reason = memory_refusal(run, hardware, device)
    if reason:
        raise WorkerRefused(f"on {socket.gethostname()}: {reason}")
    return execute(run, device, store, force)


class Executor(ABC):
    """Executes resolved runs and yields their records as they finish."""

    name: ClassVar[str]

    def __init__(self, retries: int = 2) -> None:
        self.retries = retries

    @abstractmethod
    def execute(self, runs: Sequence[ResolvedRun], store: RunStore, force: bool,
                on_start: OnStart | None = None) -> Iterator[dict[str, Any]]:
        """Every run's record: method failures as recorded by the worker, infrastructure
        failures retried ``retries`` times, then recorded (:func:`infrastructure_failure`)."""


# -- this host ---------------------------------------------------------------------------------

_worker_device: str | None = None
_devices: Any = None


def _claim_device(devices: Any) -> None:
    global _worker_device, _devices
    _devices = devices
    _worker_device = devices.get()


def _execute_in_worker(spec: RunSpec, results_root: str, force: bool, key: str, hand_back: bool = False) -> dict[str, Any]:
    """Run ``spec`` on the worker's device; with ``hand_back`` (a process per run), give the
    device back when done, for the next fresh worker to claim."""
    import torch

    try:
        if _worker_device is not None and _worker_device.startswith("cuda"):
            torch.cuda.set_device(torch.device(_worker_device))
        return execute_spec(spec, results_root, force, key, _worker_device)
    finally:
        if hand_back:
            _devices.put(_worker_device)


class LocalExecutor(Executor):
    """One worker process per device of the runs' hardware; in this process on one device,
    unless ``process_per_run``: then every run in a fresh process of its own (the nightly gate's
    runs, so that the seeds it treats as independent share no process state)."""

    name = "local"

    def __init__(self, process_per_run: bool = False, retries: int = 2) -> None:
        super().__init__(retries)
        if not isinstance(process_per_run, bool):
            raise UcdbenchError(f"executor 'local': process_per_run is true or false, got {process_per_run!r}")
        self.process_per_run = process_per_run

    def execute(self, runs, store, force, on_start=None):
        if not runs:
            return
        hardware = runs[0].hardware.load()()
        reason = hardware.unavailable_reason()
        if reason:
            raise UcdbenchError(f"hardware {hardware.name!r} is not usable here: {reason}")
        devices = hardware.devices()
        refuse_what_cannot_fit(runs, hardware, devices[0])
        if not self.process_per_run and (len(devices) <= 1 or len(runs) == 1):
            for run in runs:
                if on_start:
                    on_start(run, devices[0])
                yield execute(run, devices[0], store, force)
            return
        attempts = dict.fromkeys((run.key for run in runs), 0)
        pending = list(runs)
        while pending:  # a dead worker breaks the pool: the unfinished runs go to a fresh one
            lost: list[tuple[ResolvedRun, str]] = []
            context = multiprocessing.get_context("spawn")
            queue = context.Queue()
            for device in devices:
                queue.put(device)
            with ProcessPoolExecutor(min(len(devices), len(pending)), mp_context=context, initializer=_claim_device,
                                     initargs=(queue,), max_tasks_per_child=1 if self.process_per_run else None) as pool:
                futures = {}
                for run in pending:
                    if on_start:
                        on_start(run, "a fresh process" if self.process_per_run else "a worker process")
                    futures[pool.submit(_execute_in_worker, run.spec, str(store.root), force, run.key,
                                        self.process_per_run)] = run
                for future in as_completed(futures):
                    run = futures[future]
                    try:
                        yield future.result()
                    except BrokenProcessPool as exc:
                        lost.append((run, f"worker process died: {exc}"))
                    except Exception as exc:  # raised by execute_spec in the worker: not retried
                        record = worker_failure(run, type(exc).__name__, str(exc))
                        store.write(record)
                        yield record
            pending = []
            for run, reason in lost:
                attempts[run.key] += 1
                if attempts[run.key] > self.retries:
                    record = infrastructure_failure(run, reason)
                    store.write(record)
                    yield record
                else:
                    pending.append(run)


# -- Ray -----------------------------------------------------------------------------------------

def _import_optional(module: str, extra: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise UcdbenchError(f"--executor {extra} needs the {module!r} package: pip install 'ucdbench[{extra}]'") from exc


RAY_CONNECT_TIMEOUT_S = 5
"""How long each step of joining a Ray cluster may take (reaching its GCS, its pubsub, reading
its cluster id: about three times this in all), one attempt. Ray's own defaults retry for
minutes before a raw ``ConnectionError``; a user who needs longer sets Ray's variables
(:func:`_bound_ray_connection`) in the environment, which win."""


def _bound_ray_connection() -> None:
    """Bound how long joining a Ray cluster may take, through Ray's settings: the C++ GCS
    clients' connect timeout (``gcs_rpc_server_connect_timeout_s``), the Python GCS client's
    (``py_gcs_connect_timeout_s``) and the number of attempts (``NUM_REDIS_GET_RETRIES``).
    Ray reads them when it is imported, so this runs before; ones already set are kept."""
    for variable, value in (("RAY_gcs_rpc_server_connect_timeout_s", RAY_CONNECT_TIMEOUT_S),
                            ("RAY_py_gcs_connect_timeout_s", RAY_CONNECT_TIMEOUT_S),
                            ("RAY_NUM_REDIS_GET_RETRIES", 1)):
        os.environ.setdefault(variable, str(value))


def _refused_by_token_auth(error: BaseException) -> bool:
    """Whether joining a Ray cluster failed on its token authentication (Ray ≥ 2.52). Ray raises
    ``AuthenticationError`` inside and hands ``ray.init``'s caller a ``ConnectionError`` whose
    cause holds it, at times only as traceback text."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if "AuthenticationError" in f"{type(current).__name__} {current}":
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


@contextmanager
def _ray_session(ray: Any, address: str | None) -> Iterator[None]:
    """Ray for the ``with`` block: the cluster at ``address`` joined, or a local one started,
    and left (a local one shut down) at its end, on an exception, Ctrl-C or SIGTERM too, so
    that no raylet, GCS or agent outlives the driver. A Ray the caller initialised is theirs."""
    if ray.is_initialized():
        yield
        return
    where = address or os.environ.get("RAY_ADDRESS")
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, getattr(ray.exceptions, "AuthenticationError", ConnectionError)) as exc:
        if _refused_by_token_auth(exc):
            raise UcdbenchError(
                f"the Ray cluster at {where} refused this driver: it uses Ray's token authentication and this driver "
                f"has not its token. Give it the cluster's token (RAY_AUTH_MODE=token with RAY_AUTH_TOKEN=..., or the "
                f"token in ~/.ray/auth_token; `ray get-auth-token` on the head node prints it), or run without a "
                f"cluster: --executor local, or --executor ray without --ray-address (a local Ray)") from None
        raise UcdbenchError(
            f"no Ray cluster answered at {where} ({exc}). Give the address `ray start --head` printed on the head "
            f"node (--ray-address HOST:PORT, or 'auto' for the cluster started on this machine), check that this "
            f"machine can reach it, or run without a cluster: --executor local, or --executor ray without "
            f"--ray-address (a local Ray)") from None
    terminated: list[int] = []

    def exit_on_sigterm(signum: int, frame: Any) -> None:
        terminated.append(signum)
        raise SystemExit(128 + signum)

    main_thread = threading.current_thread() is threading.main_thread()
    # After ray.init, whose C++ core installs a SIGTERM handler that aborts, leaving Ray's agents behind.
    previous = signal.signal(signal.SIGTERM, exit_on_sigterm) if main_thread else None
    try:
        yield
    except SystemExit:
        if terminated:  # raised in ray.wait, Ray turns it into SystemExit(1): exit as terminated, not as failed
            raise SystemExit(128 + terminated[0]) from None
        raise
    finally:
        ray.shutdown()
        if main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


class RayExecutor(Executor):
    """One Ray task per run on a Ray cluster (``address``; None starts a local one), with
    ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs (None: what the run's hardware declares)."""

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_run: float = 1, gpus_per_run: int | None = None,
                 retries: int = 2) -> None:
        super().__init__(retries)
        if isinstance(cpus_per_run, bool) or not isinstance(cpus_per_run, (int, float)) or not cpus_per_run > 0:
            raise UcdbenchError(f"cpus_per_run {cpus_per_run!r}: give the CPUs each run takes, a number > 0 (for example 1)")
        if gpus_per_run is not None and (isinstance(gpus_per_run, bool) or not isinstance(gpus_per_run, int)
                                         or gpus_per_run < 0):
            raise UcdbenchError(f"gpus_per_run {gpus_per_run!r}: give the GPUs each run takes, a whole number >= 0, or "
                                f"leave it out for what the runs' hardware declares")
        self.address, self.cpus_per_run, self.gpus_per_run = address, cpus_per_run, gpus_per_run

    def execute(self, runs, store, force, on_start=None):
        if not runs:
            return
        if self.address is not None or os.environ.get("RAY_ADDRESS"):
            _bound_ray_connection()
        ray = _import_optional("ray", "ray")
        with _ray_session(ray, self.address):
            yield from self._execute(ray, runs, store, force, on_start)

    def _execute(self, ray, runs, store, force, on_start):
        remote = ray.remote(execute_spec)
        refs = {}
        for run in runs:
            if on_start:
                on_start(run, "ray")
            gpus = self.gpus_per_run if self.gpus_per_run is not None else gpus_per_run(run)
            task = remote.options(num_cpus=self.cpus_per_run, num_gpus=gpus, max_retries=self.retries,
                                  retry_exceptions=False)
            refs[task.remote(run.spec, str(Path(store.root).resolve()), force, run.key)] = run
        while refs:
            (done,), _ = ray.wait(list(refs), num_returns=1)
            run = refs.pop(done)
            try:
                record = ray.get(done)
            except ray.exceptions.RayTaskError as exc:  # execute_spec raised in the worker: not retried
                cause = exc.cause if exc.cause is not None else exc
                record = worker_failure(run, type(cause).__name__, str(cause))
                store.write(record)
            except ray.exceptions.RayError as exc:  # lost to the cluster, after Ray's retries
                record = infrastructure_failure(run, f"{type(exc).__name__}: {exc}")
                store.write(record)
            else:
                if store.get(run.key) != record:  # the worker's folder is not this one
                    store.write(record)
            yield record


# -- Slurm (submitit) --------------------------------------------------------------------------------

def _slurm_job_class() -> type:
    """A submitit ``Checkpointable`` that runs one spec: on pre-emption or timeout submitit asks it
    to checkpoint, and it requeues itself with the same arguments (a run restarts from scratch;
    its ``running`` record is simply replaced)."""
    import submitit

    class SlurmRun(submitit.helpers.Checkpointable):
        def __call__(self, spec: RunSpec, results_root: str, force: bool, key: str) -> dict[str, Any]:
            return execute_spec(spec, results_root, force, key)

    return SlurmRun


SLURM_COMMANDS = ("sbatch", "srun")
"""What submitting to Slurm needs on the PATH (submitit submits with the one, runs with the other)."""

SLURM_CLUSTERS = ("slurm", "local")
"""Where Slurm jobs go: the Slurm cluster, or, asked for by name, submitit's local dry run."""


def _raised_in_job(error: Exception) -> tuple[str, str]:
    """The exception (type, message) a failed submitit job raised. Its ``FailedJobError``
    carries the worker's traceback only as text, framed by dashed lines; a traceback ends with
    an unindented ``module.Type: message`` line."""
    text = str(error)
    framed = re.search(r"with trace:\n-+\n(.*?)\n-+\n", text, re.DOTALL)
    lines = [line for line in (framed.group(1) if framed else text).splitlines() if line.strip() and not line[0].isspace()]
    error_type, _, message = lines[-1].partition(": ") if lines else (type(error).__name__, "", text)
    return error_type, message


class SlurmExecutor(Executor):
    """submitit job arrays: one job per run, one array per GPU count. ``cluster="local"`` is
    submitit's dry run on this host, only ever when asked for by name: without Slurm here,
    ``cluster="slurm"`` (the default) is a usage error before anything is submitted."""

    name = "slurm"

    def __init__(self, partition: str | None = None, time_min: int = 240, gpus_per_job: int | None = None,
                 cpus_per_job: int = 4, array_parallelism: int = 64, cluster: str = "slurm", retries: int = 2) -> None:
        super().__init__(retries)
        if cluster not in SLURM_CLUSTERS:
            raise UcdbenchError(f"slurm cluster {cluster!r}: choose 'slurm' (the default: jobs go to Slurm) or 'local' "
                                f"(submitit's dry run: the jobs as processes of this host)")
        missing = [command for command in SLURM_COMMANDS if shutil.which(command) is None]
        if cluster == "slurm" and missing:
            raise UcdbenchError(
                f"the slurm executor cannot submit: no Slurm on this machine ({' and '.join(f'`{c}`' for c in missing)} "
                f"not found on the PATH). Run from a Slurm login node; or run here with --executor local (or --executor ray); or, to try "
                f"the jobs as local processes without Slurm (no queue, no partition), ask for submitit's dry run by "
                f"name: --slurm-cluster local (cluster = \"local\" in the experiment file's [executor])")
        self.partition, self.time_min, self.gpus_per_job = partition, time_min, gpus_per_job
        self.cpus_per_job, self.array_parallelism, self.cluster = cpus_per_job, array_parallelism, cluster

    def _executor(self, folder: Path) -> Any:
        submitit = _import_optional("submitit", "slurm")
        executor = submitit.AutoExecutor(folder=folder / "%j", cluster=self.cluster)
        parameters: dict[str, Any] = {"timeout_min": self.time_min, "cpus_per_task": self.cpus_per_job,
                                      "name": "ucdbench"}
        if self.cluster == "slurm":
            parameters |= {"slurm_array_parallelism": self.array_parallelism}
            if self.partition:
                parameters["slurm_partition"] = self.partition
        executor.update_parameters(**parameters)
        return executor

    def _by_gpus(self, runs: Sequence[ResolvedRun]) -> dict[int, list[ResolvedRun]]:
        """``runs`` by the GPUs a job of each asks for: ``gpus_per_job`` where given, else what
        the run's hardware declares."""
        groups: dict[int, list[ResolvedRun]] = {}
        for run in runs:
            gpus = self.gpus_per_job if self.gpus_per_job is not None else gpus_per_run(run)
            groups.setdefault(gpus, []).append(run)
        return groups

    def execute(self, runs, store, force, on_start=None):
        submitit = _import_optional("submitit", "slurm")
        if not runs:
            return
        root = str(Path(store.root).resolve())
        executor = self._executor(Path(root) / "slurm")
        job_class = _slurm_job_class()
        label = "slurm job" if self.cluster == "slurm" else "local dry-run job"
        attempts = dict.fromkeys((run.key for run in runs), 0)
        pending = list(runs)
        while pending:
            submitted = []
            for gpus, group in self._by_gpus(pending).items():  # one array per GPU count: its jobs ask alike
                executor.update_parameters(gpus_per_node=gpus)
                jobs = executor.map_array(job_class(), [r.spec for r in group], [root] * len(group),
                                          [force] * len(group), [r.key for r in group])
                submitted += zip(group, jobs)
            for run, job in submitted:
                if on_start:
                    on_start(run, f"{label} {job.job_id}")
            resubmit = []
            for run, job in submitted:
                try:
                    record = job.result()
                except submitit.core.utils.FailedJobError as exc:  # the job's Python raised: not retried
                    record = worker_failure(run, *_raised_in_job(exc))
                    store.write(record)
                except submitit.core.utils.UncompletedJobError as exc:  # the job never finished: lost, retried
                    attempts[run.key] += 1
                    if attempts[run.key] <= self.retries:
                        resubmit.append(run)
                        continue
                    record = infrastructure_failure(run, f"{label} {job.job_id}: {str(exc).splitlines()[0]}")
                    store.write(record)
                else:
                    if store.get(run.key) != record:
                        store.write(record)
                yield record
            pending = resubmit


def make_executor(kind: str, options: Mapping[str, Any], retries: int = 2) -> Executor:
    """The executor ``kind`` (``local``, ``ray``, ``slurm``) with its options."""
    classes: dict[str, type[Executor]] = {"local": LocalExecutor, "ray": RayExecutor, "slurm": SlurmExecutor}
    if kind not in classes:
        raise UcdbenchError(f"unknown executor {kind!r}; choose one of {', '.join(classes)}")
    try:
        return classes[kind](**options, retries=retries)
    except TypeError as exc:
        raise UcdbenchError(f"executor {kind!r}: {exc}") from exc


def run_all(registry: Registry, specs: Sequence[RunSpec], store: RunStore, force: bool = False,
            on_start: OnStart | None = None, executor: Executor | None = None, resume: bool = False,
            on_left: Callable[[ResolvedRun, RunState, dict[str, Any]], None] | None = None,
            heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S) -> Iterator[dict[str, Any]]:
    """Resolve every spec first (so a typo fails before hours of runs), read their records
    (:func:`select_runs`), then execute what is to run (default: on this host); yields records
    as runs finish, cached ones first. ``on_left`` hears of the runs left to other processes."""
    resolved = [resolve(registry, spec, store) for spec in specs]
    selection = select_runs(resolved, store, force, resume, heartbeat_timeout_s)
    for run, state, record in selection.left:
        if on_left:
            on_left(run, state, record)
    yield from selection.cached
    yield from (executor or LocalExecutor()).execute(selection.to_run, store, force, on_start)
