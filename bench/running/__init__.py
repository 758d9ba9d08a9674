"""Running: a run's key and its code fingerprint, the store of records and artifacts, the caches,
fitting and measuring a run, the executors that spread runs (local, Ray, Slurm), and the helpers
plugins train and time with (re-exported by :mod:`ucdbench.api`). Never imports the reporting
layer: a run does not know how it will be shown."""
