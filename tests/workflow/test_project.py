"""Project hygiene: conda environments match pyproject, and every linter is clean."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from workflow_helpers import ROOT, SNAKEFILE, SNAKEMAKE

BIN = Path(sys.executable).parent


def pinned(requirements) -> dict[str, str]:
    """name -> version of 'name==version' requirement strings."""
    pins = {}
    for req in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", req.strip())
        assert match, f"not pinned exactly: {req!r}"
        pins[match[1].lower()] = match[2]
    return pins


def test_conda_envs_pin_pyproject_versions():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = pinned(project["dependencies"])
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    envs = sorted((ROOT / "envs").glob("*.yaml"))
    assert {p.name for p in envs} >= {"torch.yaml", "analysis.yaml"}
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        assert "conda-forge" in spec["channels"]
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        for name, version in pinned(pip).items():
            assert pins.get(name) == version, f"{env.name}: {name}=={version} vs pyproject"
    rules_envs = set(re.findall(r'"\.\./\.\./envs/([\w.]+)"', _rules_text()))
    assert rules_envs == {p.name for p in envs}


def _rules_text() -> str:
    return "\n".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))


def test_every_rule_has_log_conda_threads_resources():
    text = _rules_text()
    rules = re.split(r"^rule ", text, flags=re.M)[1:]
    assert len(rules) >= 9
    for rule in rules:
        name = rule.split(":")[0]
        for directive in ("log:", "conda:", "threads:", "resources:"):
            assert f"    {directive}" in rule, f"rule {name} has no {directive}"


@pytest.mark.parametrize(
    "cmd",
    [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
        [str(BIN / "snakefmt"), "--check", "workflow"],
        [str(SNAKEMAKE), "--snakefile", str(SNAKEFILE), "--lint"],
    ],
    ids=["ruff-check", "ruff-format", "snakefmt", "snakemake-lint"],
)
def test_lint_clean(cmd):
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    if "--lint" in cmd:
        assert "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
