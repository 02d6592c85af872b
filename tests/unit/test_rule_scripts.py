"""Rule scripts are glue, and the harness runs them outside Snakemake.

Every ``scripts/*.py`` rule script: a docstring naming its inputs and outputs, a ``main`` that
takes plain values, and the ``snakemake`` object read only in its ``__main__`` block, which
falls back on :func:`dnnmap_harness.mock_snakemake` for a demo job of its rule. The harness is
checked field by field on three rules, and by running ``check_stimuli`` and ``rdm_model``
through it and comparing with what the workflow itself writes.
"""

from __future__ import annotations

import ast
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from dnnmap.store import write_h5

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
HARNESS = "dnnmap_harness.py"
RULE_SCRIPTS = sorted(p for p in SCRIPTS.glob("*.py") if p.name != HARNESS)
NAMESPACES = ("input", "output", "params", "wildcards", "log", "resources")


@pytest.fixture
def harness(monkeypatch):
    """The harness module, imported as rule scripts import it (scripts/ on sys.path)."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import dnnmap_harness

    return dnnmap_harness


@pytest.fixture
def demo_dir(tmp_path, monkeypatch):
    """A working directory with the demo config (stimulus table made absolute) as
    ``config/config.yaml``, the current directory during the test."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["stimuli"]["table"] = str(ROOT / config["stimuli"]["table"])
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.chdir(tmp_path)  # restored after the test; the harness changes directory
    return tmp_path


def _main_block(tree: ast.Module) -> ast.If:
    blocks = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'"
    ]
    assert len(blocks) == 1, "expected one `if __name__ == '__main__':` block"
    return blocks[0]


def _mock_call(block: ast.If) -> ast.Call:
    first = block.body[0]
    assert isinstance(first, ast.If) and ast.unparse(first.test) == "'snakemake' not in globals()"
    calls = [
        node
        for node in ast.walk(first)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "mock_snakemake"
    ]
    assert len(calls) == 1
    return calls[0]


def test_every_rule_script_is_listed():
    # stacking 4, joint 5, interpret 10, estimate_betas, plot_brain_maps,
    # merge_shards, plot_stacking_brain, extract_roi_series, encode_fir
    assert len(RULE_SCRIPTS) == 53
    names = {p.stem for p in RULE_SCRIPTS}
    assert {"summarize_encoding", "encoding_maps"} <= names
    assert not names & {"summary", "maps"}


@pytest.mark.parametrize("script", RULE_SCRIPTS, ids=lambda p: p.stem)
def test_rule_script_is_glue(script):
    tree = ast.parse(script.read_text())
    doc = ast.get_docstring(tree)
    assert doc and re.search(r"^Outputs?:", doc, re.M), "docstring names no outputs"
    assert re.search(r"^(Inputs?|Params|Config):", doc, re.M), "docstring names no inputs"
    mains = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    assert len(mains) == 1
    block = _main_block(tree)
    outside = [n for n in tree.body if n is not block]
    for node in outside:
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        assert "snakemake" not in used, f"snakemake used outside __main__ (line {node.lineno})"
    rule = _mock_call(block).args[0]
    assert isinstance(rule, ast.Constant) and isinstance(rule.value, str)
    calls = [
        n
        for n in ast.walk(block)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "main"
    ]
    assert len(calls) == 1
    for arg in calls[0].args:
        # Plain values only: a whole Snakemake namespace (snakemake.input, ...) is not one.
        text = ast.unparse(arg)
        assert not re.fullmatch(rf"snakemake\.({'|'.join(NAMESPACES)})", text), text


def _script_rules() -> dict[str, set[str]]:
    """script file name -> the rules of workflow/rules/*.smk that run it."""
    out: dict[str, set[str]] = {}
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":")[0]
            script = re.search(r'script:\s*"\.\./\.\./scripts/(\w+\.py)"', block)
            if script:
                out.setdefault(script[1], set()).add(name)
    return out


def test_each_script_runs_the_rule_it_mocks():
    """The rule in each script's mock_snakemake call runs that script (and no script is
    orphaned); probing_profile.py, decode.py, rsa.py and summarize_rsa.py serve two rules."""
    rules = _script_rules()
    assert set(rules) == {p.name for p in RULE_SCRIPTS}
    for script in RULE_SCRIPTS:
        rule = _mock_call(_main_block(ast.parse(script.read_text()))).args[0].value
        assert rule in rules[script.name], f"{script.name}: {rule} not in {rules[script.name]}"


def test_mock_snakemake_fields(harness, demo_dir):
    config = yaml.safe_load((demo_dir / "config" / "config.yaml").read_text())
    smk = harness.mock_snakemake(
        "encode", workdir=demo_dir, model="alexnet", layer="conv3", subject="sub-02", roi="V4"
    )
    assert smk.rule == "encode"
    assert Path.cwd() == demo_dir
    assert dict(smk.input.items()) == {
        "stimuli": str(demo_dir / "results/stimuli.tsv"),
        "features": str(demo_dir / "results/features/alexnet/conv3.h5"),
        "brain": str(demo_dir / "results/brain/sub-02/V4.h5"),
    }
    assert list(smk.output) == [str(demo_dir / "results/encoding/sub-02/alexnet/conv3/V4.h5")]
    assert list(smk.log) == [str(demo_dir / "logs/encode/sub-02/alexnet/conv3/V4.log")]
    assert (demo_dir / "logs/encode/sub-02/alexnet/conv3").is_dir()
    assert dict(smk.wildcards.items()) == {
        "model": "alexnet",
        "layer": "conv3",
        "subject": "sub-02",
        "roi": "V4",
    }
    assert smk.params.encoding == smk.config["encoding"]  # the validated config, defaults filled
    assert smk.params.encoding["alphas"] == config["encoding"]["alphas"]
    assert smk.params.device == config["compute"]["device"]
    assert isinstance(smk.threads, int) and 1 <= smk.threads <= (os.cpu_count() or 1)
    assert smk.resources.mem_mb > 0 and smk.resources.runtime > 0
    assert smk.config["models"]["alexnet"]["layers"] == config["models"]["alexnet"]["layers"]

    layers = config["models"]["alexnet"]["layers"]
    smk = harness.mock_snakemake(
        "probing_profile", workdir=demo_dir, model="alexnet", attribute="category"
    )
    assert list(smk.params.labels) == [{"layer": layer} for layer in layers]
    assert smk.params.title == "alexnet: decoding category" and smk.params.model == "alexnet"
    assert smk.input == [
        str(demo_dir / f"results/decoding/alexnet/{layer}/category.h5") for layer in layers
    ]
    assert smk.output.figure == str(demo_dir / "results/decoding/alexnet/category.png")

    smk = harness.mock_snakemake(
        "rsa", workdir=demo_dir, subject="sub-02", model="alexnet", roi="VTC"
    )
    subjects = list(config["brain"]["subjects"])
    assert list(smk.params.subjects) == subjects and list(smk.params.layers) == layers
    assert list(smk.input.brains) == [
        str(demo_dir / f"results/rdm/brain/{s}/VTC.h5") for s in subjects
    ]
    assert list(smk.input.models) == [
        str(demo_dir / f"results/rdm/alexnet/{layer}.h5") for layer in layers
    ]


def test_mock_snakemake_errors(harness, demo_dir):
    with pytest.raises(FileNotFoundError, match="no such config file"):
        harness.mock_snakemake("check_stimuli", configfile=demo_dir / "nope.yaml")
    with pytest.raises(ValueError, match=r"rule is 'encoding'; expected one of .*encode"):
        harness.mock_snakemake("encoding", workdir=demo_dir)
    with pytest.raises(ValueError, match=r"wildcards \['model'\] given for rule encode"):
        harness.mock_snakemake("encode", workdir=demo_dir, model="alexnet")
    assert sorted(p.name for p in demo_dir.iterdir()) == ["config"]  # nothing written


def _workflow(workdir: Path, target: str) -> None:
    """Run the workflow (the snakemake command) for one target in ``workdir``."""
    cmd = [
        str(SNAKEMAKE),
        "--snakefile",
        str(ROOT / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "1",
        target,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _fake_activations(workdir: Path) -> None:
    """An activations file with conv1 for the stimuli of ``results/stimuli.tsv``."""
    ids = list(pd.read_csv(workdir / "results/stimuli.tsv", sep="\t")["stim_id"])
    X = np.random.default_rng(0).random((len(ids), 4, 3, 3)).astype(np.float32)
    path = workdir / "results/activations/alexnet.h5"
    write_h5(path, {"layers/conv1": X}, attrs={"model": "alexnet"}, stim_id=ids)


def test_harness_runs_rule_scripts_as_the_workflow_does(harness, demo_dir, tmp_path_factory):
    """check_stimuli (the fallback in its __main__) and rdm_model (with the harness's object
    injected, as Snakemake injects its own) write what the workflow writes."""
    flow = tmp_path_factory.mktemp("workflow")
    (flow / "config").mkdir()
    (flow / "config/config.yaml").write_bytes((demo_dir / "config/config.yaml").read_bytes())
    _workflow(flow, "results/stimuli.tsv")
    _fake_activations(flow)
    _workflow(flow, "results/rdm/alexnet/conv1.h5")

    harness.ROOT = demo_dir  # the default working directory of the fallback (restored below)
    try:
        runpy.run_path(str(SCRIPTS / "check_stimuli.py"), run_name="__main__")
    finally:
        harness.ROOT = ROOT
    got = demo_dir / "results/stimuli.tsv"
    assert got.read_bytes() == (flow / "results/stimuli.tsv").read_bytes()
    assert "stimuli checked" in (demo_dir / "logs/check_stimuli.log").read_text()

    _fake_activations(demo_dir)
    smk = harness.mock_snakemake("rdm_model", workdir=demo_dir, model="alexnet", layer="conv1")
    runpy.run_path(str(SCRIPTS / "rdm_model.py"), {"snakemake": smk}, run_name="__main__")
    ours, theirs = (d / "results/rdm/alexnet/conv1.h5" for d in (demo_dir, flow))
    with h5py.File(ours, "r") as a, h5py.File(theirs, "r") as b:
        assert set(a) == set(b) == {"rdm", "stim_id"}
        # the job ran with its own BLAS threads: the same sums, up to the last bit
        np.testing.assert_allclose(a["rdm"][()], b["rdm"][()], rtol=1e-14, atol=0)
        np.testing.assert_array_equal(a["stim_id"][()], b["stim_id"][()])
        # Provenance names the inputs by path (absolute from the harness), and the time.
        skip = {"created", "inputs"}
        assert {k: a.attrs[k] for k in a.attrs if k not in skip} == {
            k: b.attrs[k] for k in b.attrs if k not in skip
        }
