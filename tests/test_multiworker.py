"""Multi-worker training: TF_CONFIG checks, the local launcher with real processes and real TensorFlow,
Kubernetes manifests against the API schema, the grading sandbox's loopback."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import psutil
import pytest
import yaml

from course_lib.exceptions import ManifestInvalid, PortInUse, TFConfigError, WorkerCrashed, WorkerTimeout
from course_lib.multiworker import KillAt, Worker, check_cluster, launch, local_cluster, parse, tf_config
from course_lib.multiworker import kubernetes

PY = sys.executable


def job(out, *extra) -> list[str]:
    """The kit's worker program on the small synthetic set (seconds per epoch)."""
    return [PY, "-m", "course_lib.multiworker.train_job", "--out", str(out), "--data", "blobs", "--n-train", "256",
            "--n-test", "128", "--global-batch", "32", *extra]


def gone(pids) -> bool:
    """No process of ``pids`` is alive (a zombie awaiting its parent's wait counts as gone)."""
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
    return True


def python_worker(code: str) -> list[str]:
    return [PY, "-c", code]


# ----------------------------------------------------------------------------- TF_CONFIG
@pytest.mark.parametrize("raw, worker, field", [
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0', "w0", "(json)"),
    ({"cluster": {"worker": ["127.0.0.1:1"]}}, "w1", "task"),
    ({"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}, "w2", "cluster.worker[0]"),
    ({"cluster": {"worker": ["a:1", "b:x"]}, "task": {"type": "worker", "index": 0}}, "w3", "cluster.worker[1]"),
    ({"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}, "w4", "cluster.worker[1]"),
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}, "w5", "task.index"),
    ({"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, "w6", "task.type"),
    ({"cluster": {"workers": ["a:1"]}, "task": {"type": "workers", "index": 0}}, "w7", "cluster.workers"),
])
def test_malformed_tf_config_names_worker_and_field(raw, worker, field):
    with pytest.raises(TFConfigError) as e:
        parse(raw, worker)
    assert (e.value.worker, e.value.field) == (worker, field)
    assert worker in str(e.value) and field in str(e.value)


def test_a_job_needs_one_cluster_and_each_task_once():
    hosts = ["10.0.0.1:2222", "10.0.0.2:2222"]
    ok = check_cluster({"a": tf_config(hosts, 0), "b": json.dumps(tf_config(hosts, 1))})
    assert ok["a"].is_chief and not ok["b"].is_chief and ok["b"].address == "10.0.0.2:2222"
    with pytest.raises(TFConfigError) as e:
        check_cluster({"a": tf_config(hosts, 0), "b": tf_config(hosts, 0)})
    assert e.value.worker == "b" and e.value.field == "task.index" and "also claimed by a" in str(e.value)
    with pytest.raises(TFConfigError) as e:
        check_cluster({"a": tf_config(hosts, 0), "b": tf_config(["10.0.0.1:2222", "10.0.0.2:2223"], 1)})
    assert e.value.worker == "b" and e.value.field == "cluster"
    with pytest.raises(TFConfigError, match=r"no worker runs \[\('worker', 1\)\]"):
        check_cluster({"a": tf_config(hosts, 0)})


def test_worker_program_rejects_a_malformed_tf_config_by_name(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "COURSE_WORKER_NAME": "worker-7",
           "TF_CONFIG": '{"cluster": {"worker": ["127.0.0.1:2222"]}, "task": {"type": "worker", "index": 1}}'}
    proc = subprocess.run(job(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "worker-7: TF_CONFIG field 'task.index': 1 is out of range" in proc.stderr


# ----------------------------------------------------------------------------- launcher: errors before start
def test_port_in_use_is_named_and_nothing_starts(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        free = local_cluster(1, [])[0].tf_config["cluster"]["worker"][0].rsplit(":", 1)[1]
        workers = local_cluster(2, python_worker(f"open({str(tmp_path / 'started')!r}, 'w')"),
                                ports=[int(free), taken])
        with pytest.raises(PortInUse) as e:
            launch(workers, time_limit=30, echo=None)
    assert (e.value.worker, e.value.port) == ("worker-1", taken)
    assert f"port {taken}" in str(e.value) and "worker-1" in str(e.value)
    assert not (tmp_path / "started").exists(), "no worker may start when a port is taken"


def test_malformed_config_stops_launch_before_any_process(tmp_path):
    workers = local_cluster(2, python_worker(f"open({str(tmp_path / 'started')!r}, 'w')"))
    workers[1].tf_config = workers[1].tf_config | {"task": {"type": "worker", "index": 5}}
    with pytest.raises(TFConfigError) as e:
        launch(workers, time_limit=30, echo=None)
    assert e.value.worker == "worker-1" and e.value.field == "task.index"
    assert not (tmp_path / "started").exists()


# ----------------------------------------------------------------------------- launcher: real processes
@pytest.mark.slow
def test_two_tensorflow_workers_train_together_and_exit(tmp_path):
    lines: list[str] = []
    result = launch(local_cluster(2, job(tmp_path / "run", "--epochs", "2")), time_limit=240, echo=lines.append)
    assert result.status == "ok"
    assert [(w.name, w.returncode, w.status) for w in result.workers] == [("worker-0", 0, "ok"), ("worker-1", 0, "ok")]
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["replicas"] == 2 and [e["epoch"] for e in history["epochs"]] == [1, 2]
    assert history["test_accuracy"] > 0.5          # three well-separated blobs: chance is 1/3
    assert any(line.startswith("[worker-1] ") and "2 replica(s) in sync" in line for line in lines)
    assert not (tmp_path / "run" / "scratch-worker-1").exists(), "only the chief's files are kept"
    assert gone(result.pids())


@pytest.mark.slow
def test_crashed_worker_stops_every_process_group(tmp_path):
    """worker-0 waits at TensorFlow's collective; worker-1 starts a grandchild and crashes. Nothing survives."""
    grandchild = tmp_path / "grandchild.pid"
    crash = (f"import subprocess, sys, time; p = subprocess.Popen(['sleep', '300']); "
             f"open({str(grandchild)!r}, 'w').write(str(p.pid)); time.sleep(8); "
             f"print('bad things happened', flush=True); sys.exit(3)")
    workers = local_cluster(2, job(tmp_path / "run", "--epochs", "50"))
    workers[1].argv = python_worker(crash)
    procs_before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(WorkerCrashed) as e:
        launch(workers, time_limit=240, echo=None)
    assert e.value.worker == "worker-1" and e.value.returncode == 3
    assert e.value.log_tail[-1] == "bad things happened"
    assert e.value.exits["worker-0"] is not None and e.value.exits["worker-0"] < 0, "worker-0 was stopped"
    time.sleep(0.5)
    left = {p.pid for p in psutil.Process().children(recursive=True)} - procs_before
    assert gone(left | {int(grandchild.read_text())})


@pytest.mark.slow
def test_worker_hanging_at_the_collective_times_out(tmp_path):
    """worker-1 never runs TensorFlow: worker-0 blocks in MultiWorkerMirroredStrategy until the time limit."""
    workers = local_cluster(2, job(tmp_path / "run", "--epochs", "2"))
    workers[1].argv = python_worker("import time; print('busy elsewhere', flush=True); time.sleep(600)")
    procs_before = {p.pid for p in psutil.Process().children(recursive=True)}   # e.g. multiprocessing's tracker
    t0 = time.monotonic()
    with pytest.raises(WorkerTimeout) as e:
        launch(workers, time_limit=25, echo=None)
    assert 25 <= time.monotonic() - t0 < 90, "stopped at the limit, not after the worker finished"
    assert e.value.running == ["worker-0", "worker-1"]
    assert e.value.last_lines["worker-1"] == "busy elsewhere"
    assert not (tmp_path / "run" / "history.json").exists()
    time.sleep(0.5)
    assert gone({p.pid for p in psutil.Process().children(recursive=True)} - procs_before)


def test_ctrl_c_in_the_caller_stops_every_worker(tmp_path):
    pids = tmp_path / "pids"
    workers = local_cluster(2, python_worker(
        f"import os, time; open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'); print('up', flush=True); "
        "time.sleep(600)"))

    def interrupt(line):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        launch(workers, time_limit=60, echo=interrupt)
    time.sleep(0.2)
    assert pids.exists() and gone(int(p) for p in pids.read_text().split())


@pytest.mark.slow
def test_backup_and_restore_resumes_after_a_killed_worker(tmp_path):
    argv = job(tmp_path / "run", "--epochs", "3", "--backup", str(tmp_path / "backup"))
    first = launch(local_cluster(2, argv), time_limit=240, echo=None, kill_at=KillAt("worker-1", "epoch 1/3 done"))
    assert first.status == "interrupted"
    assert {w.name: w.status for w in first.workers} == {"worker-0": "stopped", "worker-1": "killed"}
    assert not (tmp_path / "run" / "history.json").exists()
    assert any((tmp_path / "backup").rglob("*.index")), "the chief backed up epoch 1"
    second = launch(local_cluster(2, argv), time_limit=240, echo=None)
    assert second.status == "ok"
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["first_epoch"] == 2 and [e["epoch"] for e in history["epochs"]] == [2, 3]
    assert gone(first.pids() + second.pids())


# ----------------------------------------------------------------------------- Kubernetes manifests
def test_manifests_validate_against_the_kubernetes_schema(tmp_path):
    spec = kubernetes.JobSpec(image="registry.example.org/course/train:1", workers=3, storage_class="standard")
    paths = kubernetes.write_manifests(tmp_path, spec)
    assert kubernetes.validate_manifests(paths) == ["service.yaml: Service fashion-mwms-workers",
                                                    "pvc.yaml: PersistentVolumeClaim fashion-mwms-checkpoints",
                                                    "job.yaml: Job fashion-mwms"]
    service, pvc, job_ = (yaml.safe_load(p.read_text()) for p in paths)
    assert service["spec"]["clusterIP"] == "None"
    assert job_["spec"]["completionMode"] == "Indexed" and job_["spec"]["completions"] == 3
    assert job_["spec"]["template"]["spec"]["subdomain"] == service["metadata"]["name"]
    configs = kubernetes.pod_tf_configs(job_)
    assert [c.task_index for c in configs.values()] == [0, 1, 2]
    assert configs["fashion-mwms-2"].address == "fashion-mwms-2.fashion-mwms-workers:2222"
    claim = job_["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert claim == pvc["metadata"]["name"]


@pytest.mark.parametrize("breakage, where", [
    (lambda j: j["spec"]["template"]["spec"]["containers"][0].update(resource={}), "containers.0"),
    (lambda j: j["spec"].update(completions="three"), "spec.completions"),
    (lambda j: j["spec"]["template"]["spec"]["containers"][0].pop("image") and
     j["spec"]["template"]["spec"]["containers"][0].pop("name"), "containers.0"),
    (lambda j: j.update(kind="TrainingJob"), "no schema for kind TrainingJob"),
])
def test_a_broken_manifest_fails_validation(tmp_path, breakage, where):
    job_ = kubernetes.manifests(kubernetes.JobSpec(image="example.org/train:1"))[2]
    breakage(job_)
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job_))
    with pytest.raises(ManifestInvalid) as e:
        kubernetes.validate_manifests([path])
    assert e.value.file == str(path) and where in e.value.problem


# ----------------------------------------------------------------------------- the grading sandbox
def test_grading_sandbox_brings_loopback_up_and_keeps_the_network_closed(tmp_path):
    from course_lib.grading.engine.sandbox import Limits, network_isolation, run_confined

    if not network_isolation().startswith("network namespace"):
        pytest.skip(f"no network namespace on this machine: {network_isolation()}")
    probe = ("import socket\n"
             "srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen()\n"
             "socket.create_connection(srv.getsockname(), 2).close(); print('loopback ok')\n"
             "print('interfaces', sorted(name for _, name in socket.if_nameindex()))\n")   # no route out: only lo
    rc, out = run_confined([PY, "-c", probe], cwd=str(tmp_path), env={"PATH": "/usr/bin:/bin"},
                           limits=Limits(), timeout=60)
    assert rc == 0, out
    assert "loopback ok" in out and "interfaces ['lo']" in out
