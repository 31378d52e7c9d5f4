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


def test_every_shipped_case_is_in_the_readme_methods_table():
    from pathlib import Path

    from pdesolve.config import shipped_cases

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme[readme.index("## Methods"):readme.index("Classical baselines run")]
    missing = [name for name in shipped_cases() if f"`{name}`" not in table]
    assert not missing, f"add to the README methods table: {missing}"
