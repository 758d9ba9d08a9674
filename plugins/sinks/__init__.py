"""The built-in sinks: MLflow, TensorBoard and Weights & Biases, each an optional extra
(``pip install 'ucdbench[mlflow]'``, ``[tensorboard]``, ``[wandb]``). Registration names them
lazily, so ``ucdbench list`` shows them whether or not their packages are installed; a run that
names one whose package is missing stops before it starts, saying what to install."""

from __future__ import annotations

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_sinks(register):
    register("mlflow", "ucdbench_plugins.sinks.mlflow_sink:MLflowSink",
             summary="MLflow: an experiment per experiment file; params, curves and figures with steps, tags, the artifact")
    register("tensorboard", "ucdbench_plugins.sinks.tensorboard_sink:TensorBoardSink",
             summary="TensorBoard event files: curves, figures, the configuration as hparams")
    register("wandb", "ucdbench_plugins.sinks.wandb_sink:WandbSink",
             summary="Weights & Biases, offline unless WANDB_MODE says otherwise (`wandb sync` later)")
