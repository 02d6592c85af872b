"""The library's layering rules (docs/CONTRIBUTING.md), checked on the source itself.

- no module imports another module's underscore (private) names;
- a private module (``_name.py``) is imported only from its own subpackage;
- the library never imports Snakemake;
- analysis subpackages never import torch at module level (only ``dnnmap.backend`` and the
  network code in ``dnnmap.models`` do, the backend lazily);
- the start-up path of the workflow (config, registry, sizing, stimuli) imports no torch.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
PACKAGE = SCRIPTS / "dnnmap"
ANALYSES = ("stats", "features", "brain", "encoding", "decoding", "rsa", "stacking")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SCRIPTS).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(path: Path, top_level_only: bool = False):
    """(module, names, line) of every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, [a.name for a in node.names], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _package_of(module: str) -> str:
    return module.rpartition(".")[0]


def test_no_private_names_across_modules():
    offences = []
    for module, path in _modules():
        for source, names, line in _imports(path):
            if not source.startswith("dnnmap") or source == module:
                continue
            offences += [f"{path.name}:{line} {source}.{n}" for n in names if _private(n)]
    assert offences == []


def test_private_modules_stay_in_their_package():
    offences = []
    for module, path in _modules():
        for source, names, line in _imports(path):
            if not source.startswith("dnnmap"):
                continue
            targets = [source] + [f"{source}.{n}" for n in names]
            for target in targets:
                private = _private(target.rpartition(".")[2])
                is_module = (PACKAGE.parent / f"{target.replace('.', '/')}.py").exists()
                elsewhere = _package_of(target) != _package_of(module)
                if private and is_module and elsewhere:
                    offences.append(f"{path.relative_to(SCRIPTS)}:{line} imports {target}")
    assert offences == []


def test_library_never_imports_snakemake():
    offences = [
        f"{path.relative_to(SCRIPTS)}:{line}"
        for _, path in _modules()
        for source, _, line in _imports(path)
        if source.split(".")[0] == "snakemake"
    ]
    assert offences == []


@pytest.mark.parametrize("subpackage", ANALYSES)
def test_analysis_modules_import_no_torch_at_module_level(subpackage):
    offences = [
        f"{path.relative_to(SCRIPTS)}:{line}"
        for module, path in _modules()
        if module.split(".")[1:2] == [subpackage]
        for source, _, line in _imports(path, top_level_only=True)
        if source.split(".")[0] in ("torch", "torchvision")
    ]
    assert offences == []


def test_startup_path_imports_no_torch():
    code = (
        "import sys\n"
        "import dnnmap.config, dnnmap.sizing, dnnmap.stimuli, dnnmap.models.registry\n"
        "import dnnmap.encoding.ridge, dnnmap.rsa.rdm, dnnmap.decoding\n"
        "heavy = sorted(m for m in ('torch', 'torchvision') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(SCRIPTS)}, timeout=120
    )
