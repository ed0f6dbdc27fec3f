"""Training with several workers: TF_CONFIG, a local launcher, Kubernetes manifests, the comparison.

``tfconfig`` builds and checks TF_CONFIG; ``launcher`` runs N local worker processes; ``train_job`` is
the worker program; ``kubernetes`` writes and validates the same job's manifests; ``compare`` tables and
plots single- vs multi-worker runs; ``quantum`` records which TensorFlow Quantum release fits the kit; ``checks`` runs a learner's
functions on two real workers (assignment a6).
"""
from .checks import two_worker_run
from .launcher import KillAt, LaunchResult, Worker, WorkerExit, launch, local_cluster
from .tfconfig import TFConfig, check_cluster, free_ports, global_batch_size, parse, per_replica_batch_size, tf_config

__all__ = ["KillAt", "LaunchResult", "Worker", "WorkerExit", "launch", "local_cluster", "TFConfig",
           "check_cluster", "free_ports", "global_batch_size", "parse", "per_replica_batch_size", "tf_config",
           "two_worker_run"]
