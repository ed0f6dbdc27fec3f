"""The one graded-result model (#23): what the engine writes per student is read back whole, older result files
included, and score, manual and failing follow the tests' statuses."""
from __future__ import annotations

import json

from course_lib.grading.result import Finding, GradedResult, TestResult


def _result() -> GradedResult:
    r = GradedResult("ada", "a0_warmup", digest="d1", status="tampered", late={"seconds_late": 0.0, "penalty": 0.0},
                     findings=[Finding("file-access", "open('/hidden')")], quality=[{"model": "m.tflite", "value": 0.5}])
    r.set_score("test_a", 2.0, 2.0)
    r.set_score("test_b", 0.0, 3.0, "AssertionError: wrong dtype")
    r.tests["why"] = TestResult("why", 1.0, None, "manual")
    r.autograded["a0_warmup"] = "{}"
    return r


def test_scores_follow_the_tests():
    r = _result()
    assert (r.score, r.max_score) == (2.0, 6.0)          # the written answer counts 0 until graded by hand
    assert r.failing == ["test_b"] and r.manual == {"why": 1.0}
    assert r.scores() == {"test_a": (2.0, 2.0), "test_b": (0.0, 3.0)}
    assert r.tests["test_b"].status == "failed" and r.tests["test_b"].message.startswith("AssertionError")


def test_json_round_trip_leaves_out_the_notebooks():
    r = _result()
    d = json.loads(json.dumps(r.to_dict()))
    assert "autograded" not in d and (d["score"], d["max_score"]) == (2.0, 6.0)
    back = GradedResult.from_dict(d)
    assert back == r and back.autograded == {}
    assert back.findings[0].kind == "file-access"


def test_reads_the_engines_older_result_files():
    """A batch resumed after an upgrade reads the rows the engine wrote before this model existed."""
    old = {"student": "bo", "assignment": "a0_warmup", "digest": "d0", "status": "ok", "score": 2.0, "max_score": 6.0,
           "tests": {"test_a": [2.0, 2.0], "test_b": [0.0, 3.0], "why": [0.0, 1.0]}, "manual": {"why": 1.0},
           "messages": {"test_b": "AssertionError"}, "issues": [{"kind": "exited", "detail": "cell 3"}],
           "findings": [], "quality": None, "manual_points": 1.0}
    r = GradedResult.from_dict(old)
    assert (r.score, r.max_score, r.failing, r.manual) == (2.0, 6.0, ["test_b"], {"why": 1.0})
    assert r.tests["test_b"].message == "AssertionError" and r.issues == [Finding("exited", "cell 3")]
    assert r.quality == []
