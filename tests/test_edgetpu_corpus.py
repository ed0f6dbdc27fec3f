"""The pre-flight against Coral's real compiler, op by op, on the 9 real models of the shared corpus.

Each corpus folder holds a CPU model and what the real ``edgetpu_compiler`` made of it (google-coral/test_data);
an op is on the CPU in the compiled model iff a non-custom op still produces its output tensor.
"""
import json
import os
import subprocess
import sys

import pytest

from course_lib import edgetpu
from course_lib.paths import repo_root

CORPUS = repo_root().parent / "shared" / "fixtures" / "edgetpu" / "corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the shared Edge TPU corpus is not at {CORPUS}")
MIN_OPS_RIGHT = 0.99


def _pairs():
    return [(d / f"{d.name}.tflite", d / f"{d.name}_edgetpu.tflite") for d in sorted(CORPUS.iterdir()) if d.is_dir()]


def test_agrees_with_the_real_compiler_on_the_whole_corpus():
    rows = [edgetpu.compare(cpu, compiled) for cpu, compiled in _pairs()]
    assert len(rows) == 9, f"expected the 9 corpus models, found {len(rows)} in {CORPUS}"
    right, total = sum(a.ops_right for a in rows), sum(a.total for a in rows)
    print(f"\n{'model':<52}{'ops right':>12}{'%':>8}  partition")
    for a in rows:
        print(f"{a.model[:-7]:<52}{f'{a.ops_right}/{a.total}':>12}{100 * a.fraction:>8.1f}  "
              f"{'right' if a.partition_right else 'WRONG'}")
    parts = sum(a.partition_right for a in rows)
    print(f"{'total':<52}{f'{right}/{total}':>12}{100 * right / total:>8.1f}  {parts}/9 partitions right")
    wrong = "\n".join(a.table() for a in rows if not a.partition_right)
    assert right / total >= MIN_OPS_RIGHT and parts == 9, wrong


def test_movenet_maps_by_dataflow_not_file_order():
    cpu, compiled = next(p for p in _pairs() if p[0].stem.startswith("movenet"))
    r = edgetpu.analyze(cpu)
    first_cpu = next(o.index for o in r.ops if not o.mapped)
    argmax = next(o for o in r.ops if o.op == "ARG_MAX")
    # a leading CAST/QUANTIZE stays on the CPU without stopping the ops after it; the keypoint heads after
    # the ARG_MAX in file order do not depend on it and map
    assert first_cpu == 0 and r.ops[2].mapped
    assert any(o.mapped for o in r.ops[argmax.index + 1:]) and r.subgraphs == 1
    assert not argmax.fix                       # post-processing at the end: nothing to fix
    assert r.ops[1].status == edgetpu.UNSPECIFIED


def test_compare_reads_a_log_and_finds_a_disagreement(tmp_path):
    cpu, _ = next(p for p in _pairs() if p[0].stem.startswith("deeplabv3"))
    log = edgetpu.analyze(cpu).log()
    same = tmp_path / "deeplabv3_edgetpu.log"
    same.write_text(log)
    a = edgetpu.compare(cpu, same)
    assert a.kind == "log" and a.partition_right and a.status_right == a.total == 72
    # the same log with the 5 ops left out by the one-subgraph rule reported as mapped (what -a gives)
    changed = tmp_path / "changed_edgetpu.log"
    changed.write_text(log.replace("More than one subgraph is not supported", "Mapped to Edge TPU"))
    b = edgetpu.compare(cpu, changed)
    assert not b.partition_right and b.ops_right == 72 - 5 and "<-" in b.table()
    assert edgetpu.compare(cpu, changed, multiple_subgraphs=True).ops_right == 72


def _course(*args):
    return subprocess.run([sys.executable, "-m", "course_lib.cli.main", "edgetpu", *args], cwd=repo_root(),
                          env=dict(os.environ), capture_output=True, text=True, timeout=300)


def test_cli_analyze_and_compare():
    cpu, compiled = next(p for p in _pairs() if p[0].stem.startswith("deeplabv3"))
    p = _course("analyze", str(cpu))
    assert p.returncode == 0 and "Operator" in p.stdout and edgetpu.parse_log(p.stdout).total_ops == 72
    j = _course("analyze", str(cpu), "--json", "--compiler-version", "15")
    data = json.loads(j.stdout)
    assert data["compiler_version"].startswith("15.") and len(data["ops"]) == 72 and data["cpu_ops"] == 8
    assert _course("compare", str(cpu), str(compiled)).returncode == 0
    wrong = _course("compare", str(cpu), str(compiled), "-a")           # -a would map 5 more ops
    assert wrong.returncode == 1 and "WRONG" in wrong.stdout
    bad = _course("compare", str(cpu), str(cpu))                         # not a compiled model
    assert bad.returncode == 2 and "edgetpu-custom-op" in bad.stderr
