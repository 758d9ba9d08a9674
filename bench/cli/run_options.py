"""What ``run``, ``plan`` and ``evaluate`` are asked: the runs (from flags or an experiment
file), the executor the runs go to, and how old another host's heartbeat may grow before its run
counts as interrupted. Each option here is defined beside the code that reads it."""

from __future__ import annotations

import argparse
from typing import Any

from ucdbench.cli.experiments import EXECUTORS
from ucdbench.contracts.interfaces import UcdbenchError


def heartbeat_option(parser: argparse.ArgumentParser) -> None:
    """``--heartbeat-timeout``, which :func:`heartbeat_timeout` reads."""
    parser.add_argument("--heartbeat-timeout", type=float, default=None, metavar="SECONDS",
                        help="a 'running' record of another host whose heartbeat is older than this is interrupted "
                             "(its machine died) and reruns with --resume (default: the experiment file's [executor] "
                             "heartbeat_timeout_s, else 600)")


def heartbeat_timeout(args: argparse.Namespace, experiment: Any) -> float:
    """Seconds: the flag, else the experiment file's, else the executors' default."""
    from ucdbench.running.executors import HEARTBEAT_TIMEOUT_S

    if args.heartbeat_timeout is not None:
        if not args.heartbeat_timeout > 0:
            raise UcdbenchError(f"--heartbeat-timeout {args.heartbeat_timeout}: give seconds > 0 (for example 600)")
        return args.heartbeat_timeout
    if experiment is not None and experiment.executor.heartbeat_timeout_s is not None:
        return experiment.executor.heartbeat_timeout_s
    return HEARTBEAT_TIMEOUT_S


def executor_options(parser: argparse.ArgumentParser) -> None:
    """``run``'s options of where its runs execute; :func:`executor_for` reads them."""
    executors = parser.add_argument_group("executors", "where the runs execute (default: the experiment file's "
                                          "[executor], else local: one worker per device of this host)")
    executors.add_argument("--executor", choices=EXECUTORS, default=None)
    executors.add_argument("--retries", type=int, default=2, metavar="N",
                           help="retries of a run lost to the infrastructure (a dead worker, a pre-empted job; "
                                "default 2); a run that fails by itself is not retried")
    executors.add_argument("--process-per-run", action="store_true", default=None,
                           help="local: run each run in a fresh process of its own (what the nightly gate's runs do: "
                                "seeds timed in separate processes, at separate times), not in this one")
    executors.add_argument("--ray-address", default=None, metavar="ADDR",
                           help="ray: the cluster to connect to, HOST:PORT of its head ('auto': the one started on this "
                                "machine; default: start a local one, shut down when ucdbench ends)")
    executors.add_argument("--cpus-per-run", type=float, default=None, metavar="N",
                           help="ray: CPUs each run takes (default: the file's cpus_per_run, else 1)")
    executors.add_argument("--gpus-per-run", type=int, default=None, metavar="N",
                           help="ray: GPUs each run takes (default: the file's gpus_per_run, else what the runs' "
                                "hardware declares)")
    executors.add_argument("--slurm-cluster", choices=("slurm", "local"), default=None,
                           help="slurm: where the jobs go: slurm (default; needs sbatch and srun, as on a login node) "
                                "or local, submitit's dry run (the jobs as processes of this host; no queue, no partition)")
    executors.add_argument("--partition", default=None, help="slurm: the partition")
    executors.add_argument("--time-min", type=int, default=None, metavar="MIN", help="slurm: time limit per job")
    executors.add_argument("--gpus-per-job", type=int, default=None, metavar="N", help="slurm: GPUs per job (default: what the runs' hardware declares)")


def requested_runs(args: argparse.Namespace) -> tuple[list[Any], Any]:
    """The runs a ``run``, ``plan`` or ``evaluate -f`` invocation asks for, and the experiment file if any."""
    from ucdbench.cli.experiments import load_experiment
    from ucdbench.running.runner import expand_specs

    if getattr(args, "method", None) is None and args.file is None:
        raise UcdbenchError("give --method M [M ...] (see `ucdbench list`) or an experiment file: -f experiments/NAME.toml")
    if args.file is None:
        task, hardware = args.task, args.hardware
        if task is None or hardware is None:
            from ucdbench.discovery.defaults import declared_default
            from ucdbench.discovery.registry import load_registry

            registry = load_registry()
            task = task or declared_default(registry, "task")
            hardware = hardware or declared_default(registry, "hardware")
        return expand_specs(args.method, task, args.preset or "small", args.seed or [0], hardware, args.assignments,
                            getattr(args, "threads", None)), None
    given = [flag for flag, value in (("--method", getattr(args, "method", None)), ("--task", getattr(args, "task", None)),
                                      ("--preset", getattr(args, "preset", None)), ("--seed", getattr(args, "seed", None)),
                                      ("--hardware", getattr(args, "hardware", None)),
                                      ("--threads", getattr(args, "threads", None)),
                                      ("--set", getattr(args, "assignments", None))) if value]
    if given:
        raise UcdbenchError(f"{', '.join(given)} with -f: the experiment file says what runs; edit it, or drop -f")
    experiment = load_experiment(args.file)
    return experiment.runs, experiment


def executor_for(args: argparse.Namespace, experiment: Any) -> Any:
    """The executor of :func:`executor_options`' flags over the experiment file's ``[executor]``;
    a flag of another executor than the one chosen is a usage error."""
    from ucdbench.running.executors import make_executor

    kind = args.executor or (experiment.executor.kind if experiment else "local")
    options = dict(experiment.executor.options) if experiment and experiment.executor.kind == kind else {}
    flags = {"local": {"process_per_run": ("--process-per-run", args.process_per_run)},
             "ray": {"address": ("--ray-address", args.ray_address), "cpus_per_run": ("--cpus-per-run", args.cpus_per_run),
                     "gpus_per_run": ("--gpus-per-run", args.gpus_per_run)},
             "slurm": {"partition": ("--partition", args.partition), "time_min": ("--time-min", args.time_min),
                       "gpus_per_job": ("--gpus-per-job", args.gpus_per_job),
                       "cluster": ("--slurm-cluster", args.slurm_cluster)}}
    options |= {k: v for k, (_, v) in flags.get(kind, {}).items() if v is not None}
    unused = [flag for other, values in flags.items() if other != kind for flag, v in values.values() if v is not None]
    if unused:
        raise UcdbenchError(f"{', '.join(unused)} are options of another executor than {kind!r}")
    if args.retries < 0:
        raise UcdbenchError(f"--retries {args.retries}: give 0 or more")
    return make_executor(kind, options, args.retries)


def sink_option(parser: argparse.ArgumentParser) -> None:
    """``--sink``, which :func:`sink_session` reads."""
    parser.add_argument("--sink", dest="sinks", action="append", default=[], metavar="NAME[=TARGET]",
                        help="also send each run to this sink (`ucdbench list` names them: an MLflow tracking URI, a "
                             "TensorBoard or W&B folder as TARGET); repeatable, added to the experiment file's sinks "
                             "(a name given here replaces the file's target). A sink that fails costs no run: the "
                             "failure is told and kept in the record's sinks section")


def sink_session(args: argparse.Namespace, experiment: Any, registry: Any) -> Any:
    """The sinks of the experiment file's ``sinks`` and of ``--sink`` (by name, the flag's
    target over the file's), loaded and checked before any run starts."""
    from ucdbench.running.sinks import RUNS_GIVEN_BY_FLAGS, SinkRequest, SinkSession

    requests = {r.name: r for r in (experiment.sinks if experiment else [])}
    requests |= {r.name: r for r in map(SinkRequest.parse, args.sinks)}
    name = experiment.path.stem if experiment else RUNS_GIVEN_BY_FLAGS
    return SinkSession(registry, list(requests.values()), name)
