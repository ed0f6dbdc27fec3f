"""deploy/z2jh/values.yaml against the Zero to JupyterHub chart it is written for (3.3.8, JupyterHub 4.1).

`helm lint`/`helm install` merge a values file over the chart's own values.yaml and validate the result against the
chart's values.schema.json; this does the same with the chart's files kept in deploy/z2jh/chart-3.3.8/ (taken from
the chart's git tag 3.3.8, commit 17a5372; the schema trimmed of descriptions as the chart's
tools/generate-json-schema.py does for the packaged chart). It checks the keys and types, not a running cluster.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "z2jh" / "chart-3.3.8"


def _coalesce(base: dict, over: dict) -> dict:
    """Helm's merge of user values over chart defaults: maps merge key by key, anything else replaces, null deletes."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _coalesce(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


@pytest.fixture(scope="module")
def check():
    validator = jsonschema.Draft7Validator(json.loads((CHART / "values.schema.json").read_text()))
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())

    def errors(values: dict) -> list[str]:
        merged = _coalesce(defaults, values)
        return [f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in validator.iter_errors(merged)]
    return errors


def test_the_course_values_validate_against_the_chart_schema(check):
    values = yaml.safe_load((ROOT / "deploy" / "z2jh" / "values.yaml").read_text())
    assert check(values) == []
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"].startswith("ltiauthenticator")
    assert "ngshare" in {s for s in values["hub"]["services"]}          # the exchange the README picks


@pytest.mark.parametrize("bad, where", [
    ({"hub": {"confg": {}}}, "hub"),                                     # a misspelt key
    ({"singleuser": {"memory": {"limit": ["2G"]}}}, "singleuser.memory.limit"),   # a list where a string goes
    ({"proxy": {"service": {"type": "Balancer"}}}, "proxy.service.type"),         # not one of the allowed values
])
def test_the_schema_catches_what_helm_lint_would(check, bad, where):
    values = _coalesce(yaml.safe_load((ROOT / "deploy" / "z2jh" / "values.yaml").read_text()), bad)
    found = check(values)
    assert found and any(f.startswith(where) for f in found), found
