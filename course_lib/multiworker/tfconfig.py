"""``TF_CONFIG``: how each worker of a multi-worker job learns the cluster and its own place in it.

    tf_config(["127.0.0.1:20001", "127.0.0.1:20002"], index=1)
    # {"cluster": {"worker": ["127.0.0.1:20001", "127.0.0.1:20002"]}, "task": {"type": "worker", "index": 1}}

Every worker gets the same ``cluster`` and its own ``task``; worker 0 is the chief (it writes checkpoints
and the final model). :func:`parse` checks one config and :func:`check_cluster` checks a whole job's set,
raising :class:`~course_lib.exceptions.TFConfigError` that names the worker, the field and the fix.
"""
from __future__ import annotations

import json
import socket
from contextlib import ExitStack
from dataclasses import dataclass

from ..exceptions import TFConfigError

__all__ = ["TFConfig", "tf_config", "parse", "check_cluster", "free_ports", "global_batch_size",
           "per_replica_batch_size"]

TASK_TYPES = ("chief", "worker", "evaluator", "ps")


@dataclass(frozen=True)
class TFConfig:
    cluster: dict[str, list[str]]
    task_type: str
    task_index: int

    @property
    def address(self) -> str:
        return self.cluster[self.task_type][self.task_index]

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    @property
    def is_chief(self) -> bool:
        """The chief writes checkpoints: task ``chief``, or worker 0 when the cluster has no chief."""
        return self.task_type == "chief" or (self.task_type == "worker" and self.task_index == 0
                                              and "chief" not in self.cluster)

    def to_dict(self) -> dict:
        return {"cluster": self.cluster, "task": {"type": self.task_type, "index": self.task_index}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def tf_config(workers: list[str], index: int, task_type: str = "worker") -> dict:
    """The TF_CONFIG dict of worker ``index`` in a cluster of ``workers`` ("host:port" each)."""
    return {"cluster": {task_type: list(workers)}, "task": {"type": task_type, "index": index}}


def _address_problem(address: object) -> str | None:
    if not isinstance(address, str) or ":" not in address:
        return f"{address!r} is not 'host:port'"
    host, port = address.rsplit(":", 1)
    if not host:
        return f"{address!r} has no host"
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"{address!r}: port {port!r} is not a number from 1 to 65535"
    return None


def parse(raw: str | dict, worker: str = "worker") -> TFConfig:
    """Check one TF_CONFIG (JSON text or dict) and return it as a :class:`TFConfig`."""
    fix_shape = 'Write it as {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}.'
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as e:
            raise TFConfigError(worker, "(json)", f"not valid JSON ({e})", "Build it with json.dumps(dict).") from None
    if not isinstance(raw, dict):
        raise TFConfigError(worker, "(top level)", f"a {type(raw).__name__}, not an object", fix_shape)
    for key in ("cluster", "task"):
        if key not in raw:
            raise TFConfigError(worker, key, "missing", fix_shape)
    cluster, task = raw["cluster"], raw["task"]
    if not isinstance(cluster, dict) or not cluster:
        raise TFConfigError(worker, "cluster", f"{cluster!r} is not a non-empty mapping of task type to addresses",
                            fix_shape)
    seen: dict[str, str] = {}
    for ttype, addresses in cluster.items():
        if ttype not in TASK_TYPES:
            raise TFConfigError(worker, f"cluster.{ttype}", "unknown task type",
                                f"Use one of {list(TASK_TYPES)} (MultiWorkerMirroredStrategy: 'worker', optional 'chief').")
        if not isinstance(addresses, list) or not addresses:
            raise TFConfigError(worker, f"cluster.{ttype}", f"{addresses!r} is not a non-empty list",
                                "List every task's 'host:port', one per task, index 0 first.")
        for i, a in enumerate(addresses):
            problem = _address_problem(a)
            if problem:
                raise TFConfigError(worker, f"cluster.{ttype}[{i}]", problem, "Write each address as 'host:port'.")
            if a in seen:
                raise TFConfigError(worker, f"cluster.{ttype}[{i}]", f"{a} is also {seen[a]}",
                                    "Give every task its own host:port (two tasks cannot listen on one port).")
            seen[a] = f"cluster.{ttype}[{i}]"
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise TFConfigError(worker, "task", f"{task!r} lacks 'type' or 'index'",
                            'Write "task": {"type": "worker", "index": i}.')
    ttype, index = task["type"], task["index"]
    if ttype not in cluster:
        raise TFConfigError(worker, "task.type", f"{ttype!r} is not a task type of the cluster {sorted(cluster)}",
                            "Name one of the cluster's task types.")
    if isinstance(index, bool) or not isinstance(index, int):
        raise TFConfigError(worker, "task.index", f"{index!r} is not an integer", "Give the task's position as an int.")
    if not 0 <= index < len(cluster[ttype]):
        raise TFConfigError(worker, "task.index", f"{index} is out of range for {len(cluster[ttype])} {ttype}(s)",
                            f"Use 0 to {len(cluster[ttype]) - 1}: worker i gets index i.")
    return TFConfig({k: list(v) for k, v in cluster.items()}, ttype, index)


def check_cluster(configs: dict[str, str | dict]) -> dict[str, TFConfig]:
    """Check a whole job: every config valid, one cluster shared by all, each task taken exactly once."""
    parsed = {w: parse(c, w) for w, c in configs.items()}
    if not parsed:
        raise TFConfigError("(job)", "(configs)", "no worker", "Give one TF_CONFIG per worker.")
    first_worker, first = next(iter(parsed.items()))
    owners: dict[tuple[str, int], str] = {}
    for w, c in parsed.items():
        if c.cluster != first.cluster:
            raise TFConfigError(w, "cluster", f"{c.cluster} differs from {first_worker}'s {first.cluster}",
                                "Give every worker the same cluster; only 'task' differs between workers.")
        key = (c.task_type, c.task_index)
        if key in owners:
            raise TFConfigError(w, "task.index", f"{key[0]} {key[1]} is also claimed by {owners[key]}",
                                "Give worker i the index i: each task of the cluster is run by exactly one worker.")
        owners[key] = w
    expected = {(t, i) for t, a in first.cluster.items() for i in range(len(a))}
    missing = sorted(expected - set(owners))
    if missing:
        raise TFConfigError("(job)", "task", f"no worker runs {missing}",
                            "Start one worker per address of the cluster, or list fewer addresses.")
    return parsed


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports free on ``host`` right now (the OS picks them; all held until all are picked)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(n):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind((host, 0))
            ports.append(s.getsockname()[1])
    return ports


def global_batch_size(per_replica: int, num_replicas: int) -> int:
    """Examples per step over the whole job: each replica takes ``per_replica`` of them."""
    return per_replica * num_replicas


def per_replica_batch_size(global_batch: int, num_replicas: int) -> int:
    """The share of one replica; the global batch must split evenly."""
    if global_batch % num_replicas:
        raise ValueError(f"a global batch of {global_batch} does not split over {num_replicas} replicas; "
                         f"use a multiple of {num_replicas}")
    return global_batch // num_replicas
