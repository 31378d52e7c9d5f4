"""Every shipped case validates and resolves (problem and backend options included)."""

import pytest

from pdesolve.config import load_case, shipped_cases


@pytest.mark.parametrize("name", sorted(shipped_cases()))
def test_shipped_case_resolves(name):
    resolved = load_case(name)
    assert resolved.case.name
    assert resolved.case.backend["name"] == resolved.backend_cls.name
    assert "name" in resolved.case.problem


def test_resolved_case_round_trips(tmp_path):
    resolved = load_case("quickstart", ["train.epochs=3"])
    path = tmp_path / "case.yaml"
    path.write_text(resolved.to_yaml())
    again = load_case(path)
    assert again.case == resolved.case
