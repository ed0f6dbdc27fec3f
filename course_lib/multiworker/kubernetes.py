"""The same multi-worker job for a Kubernetes cluster: manifests written here, validated offline.

    paths = write_manifests("k8s/", JobSpec(image="registry.example.org/course/train:1", workers=2))
    validate_manifests(paths)          # against the Kubernetes API schema (kubernetes-validate, offline)

Three objects: a **headless Service** (``clusterIP: None``) that gives every pod a stable DNS name
``<job>-<i>.<service>``; an **indexed Job** with ``completions = parallelism = workers``, whose pods set
``TF_CONFIG`` from their completion index (the cluster lists those DNS names, the task index is the pod's
own); and a **PersistentVolumeClaim** mounted at ``/checkpoints`` for the chief's checkpoints and the
``BackupAndRestore`` folder, so a restarted pod resumes. Nothing here talks to a cluster.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..exceptions import ManifestInvalid
from .tfconfig import TFConfig, check_cluster

__all__ = ["JobSpec", "manifests", "write_manifests", "validate_manifests", "pod_tf_configs", "KUBERNETES_VERSION"]

KUBERNETES_VERSION = "1.30"       # the API version the manifests are checked against
INDEX_ANNOTATION = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


@dataclass
class JobSpec:
    image: str
    workers: int = 2
    name: str = "fashion-mwms"
    port: int = 2222
    cpu: str = "2"
    memory: str = "4Gi"
    storage: str = "1Gi"
    storage_class: str | None = None
    args: list[str] = field(default_factory=lambda: ["--epochs", "5", "--global-batch", "64"])

    @property
    def service(self) -> str:
        return f"{self.name}-workers"

    def addresses(self) -> list[str]:
        """The cluster of TF_CONFIG: each pod's DNS name under the headless Service."""
        return [f"{self.name}-{i}.{self.service}:{self.port}" for i in range(self.workers)]


def manifests(spec: JobSpec) -> list[dict]:
    """Service, PersistentVolumeClaim and indexed Job, as dicts in that order."""
    labels = {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/component": "worker"}
    labels_of = lambda: dict(labels)  # noqa: E731  a copy per object: no YAML anchors in the files
    cluster = json.dumps({"worker": spec.addresses()})
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": spec.service, "labels": labels_of()},
               "spec": {"clusterIP": "None", "selector": labels_of(),
                        "ports": [{"name": "grpc", "port": spec.port, "targetPort": spec.port}]}}
    pvc_spec = {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": spec.storage}}}
    if spec.storage_class:
        pvc_spec["storageClassName"] = spec.storage_class
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": f"{spec.name}-checkpoints", "labels": labels_of()}, "spec": pvc_spec}
    container = {
        "name": "worker", "image": spec.image,
        "command": ["python", "-m", "course_lib.multiworker.train_job"],
        "args": ["--out", "/checkpoints/model", "--backup", "/checkpoints/backup", *spec.args],
        "ports": [{"name": "grpc", "containerPort": spec.port}],
        "env": [{"name": "WORKER_INDEX", "valueFrom": {"fieldRef": {"fieldPath": INDEX_ANNOTATION}}},
                # $(WORKER_INDEX) is expanded by Kubernetes: each pod gets its own task index
                {"name": "TF_CONFIG",
                 "value": f'{{"cluster": {cluster}, "task": {{"type": "worker", "index": $(WORKER_INDEX)}}}}'},
                {"name": "COURSE_WORKER_NAME", "value": f"{spec.name}-$(WORKER_INDEX)"},
                {"name": "COURSE_OFFLINE", "value": "1"}],
        "resources": {"requests": {"cpu": spec.cpu, "memory": spec.memory},
                      "limits": {"cpu": spec.cpu, "memory": spec.memory}},
        "volumeMounts": [{"name": "checkpoints", "mountPath": "/checkpoints"}],
    }
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": spec.name, "labels": labels_of()},
           "spec": {"completionMode": "Indexed", "completions": spec.workers, "parallelism": spec.workers,
                    "backoffLimit": 4 * spec.workers,
                    "template": {"metadata": {"labels": labels_of()},
                                 "spec": {"subdomain": spec.service, "restartPolicy": "OnFailure",
                                          "containers": [container],
                                          "volumes": [{"name": "checkpoints",
                                                       "persistentVolumeClaim": {"claimName": pvc["metadata"]["name"]}}]}}}}
    return [service, pvc, job]


def write_manifests(out_dir: str | Path, spec: JobSpec) -> list[Path]:
    """One YAML file per object (``service.yaml``, ``pvc.yaml``, ``job.yaml``); apply with ``kubectl apply -f``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for obj, fname in zip(manifests(spec), ["service.yaml", "pvc.yaml", "job.yaml"]):
        p = out / fname
        p.write_text(yaml.safe_dump(obj, sort_keys=False))
        paths.append(p)
    return paths


def validate_manifests(paths: list[str | Path], version: str = KUBERNETES_VERSION) -> list[str]:
    """Check every object of every file against the API schema (strict: unknown fields fail).

    Returns ``["job.yaml: Job fashion-mwms", ...]``; raises :class:`ManifestInvalid` at the first error.
    """
    import kubernetes_validate as kv

    checked = []
    for path in map(Path, paths):
        for obj in yaml.safe_load_all(path.read_text()):
            if not obj:
                continue
            kind = obj.get("kind", "(no kind)") if isinstance(obj, dict) else type(obj).__name__
            name = (obj.get("metadata") or {}).get("name", "(no name)") if isinstance(obj, dict) else ""
            if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
                raise ManifestInvalid(str(path), kind, name, "an object needs 'apiVersion' and 'kind'")
            try:
                kv.validate(obj, version, strict=True)
            except kv.ValidationError as e:
                where = ".".join(str(p) for p in e.path) or "(top level)"
                raise ManifestInvalid(str(path), kind, name, f"{where}: {e.message}") from None
            except kv.SchemaNotFoundError:
                raise ManifestInvalid(str(path), kind, name,
                                      f"no schema for kind {kind} in apiVersion {obj['apiVersion']} "
                                      f"(Kubernetes {version})") from None
            checked.append(f"{path.name}: {kind} {name}")
    return checked


def pod_tf_configs(job: dict) -> dict[str, TFConfig]:
    """The TF_CONFIG each pod of an indexed Job will see (``$(WORKER_INDEX)`` expanded), checked as a set."""
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    if "TF_CONFIG" not in env:
        raise ManifestInvalid("(job)", "Job", job["metadata"]["name"], "its container sets no TF_CONFIG")
    pods = {f"{job['metadata']['name']}-{i}": env["TF_CONFIG"].replace("$(WORKER_INDEX)", str(i))
            for i in range(job["spec"]["completions"])}
    return check_cluster(pods)
