"""The package's layering (docs/architecture.md): imports run one way, processing at the bottom, the command line
on top; no import of a `dfer` module is hidden inside a function; the files a checkpoint carries import only what
a user without `dfer` has."""

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# package -> the dfer packages it may import (besides itself).
ALLOWED = {
    "utils": set(),
    "processing": {"utils"},
    "data": {"utils", "processing"},
    "modeling": {"utils", "processing"},
    "training": {"utils", "processing", "data", "modeling", "metric"},
    "inference": {"utils", "processing", "modeling"},
    "hub": {"utils", "processing", "modeling", "training", "metric"},
    "demo": {"utils", "processing", "modeling", "inference"},
    "cli": {"utils", "processing", "data", "modeling", "training", "inference", "hub", "demo", "metric"},
    "model_cards": set(),
    # The metric script is copied out of the package by `evaluate.load`: the package stays free of the rest.
    "metric": set(),
}
# Third-party packages a layer must not pull in: the checkpoint's preprocessing stays light.
FORBIDDEN_THIRD_PARTY = {"processing": {"datasets", "matplotlib", "accelerate"}, "modeling": {"datasets", "matplotlib"}}
REMOTE_CODE_IMPORTS = {"torch", "transformers", "numpy", "av", "__future__", "collections", "dataclasses", "math",
                       "re", "typing", "functools", "os", "bisect", "itertools"}  # fmt: skip


def imports_of(path: Path):
    """(module imported, whether at module level) for every import statement in `path`; relative imports are
    returned as '.' + name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(("." * node.level + (node.module or ""), id(node) in top_level))
    return found


def package_files(package: str) -> list[Path]:
    return sorted((REPO_ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", list(ALLOWED))
def test_imports_run_one_way(package):
    wrong = []
    for path in package_files(package):
        for module, at_top in imports_of(path):
            parts = module.split(".")
            if parts[0] == "dfer" and len(parts) > 1 and parts[1] != package:
                if parts[1] not in ALLOWED[package]:
                    wrong.append(f"{path.relative_to(REPO_ROOT)} imports {module}")
                elif not at_top:
                    wrong.append(f"{path.relative_to(REPO_ROOT)} imports {module} inside a function")
            if parts[0] in FORBIDDEN_THIRD_PARTY.get(package, ()):
                wrong.append(f"{path.relative_to(REPO_ROOT)} imports {module}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("model_folder", ["gca_resnet", "logo_former"])
def test_model_folders_carry_only_what_remote_code_can_load(model_folder):
    for path in package_files(f"modeling/{model_folder}"):
        if path.name.startswith("convert_"):
            continue  # conversion scripts are not copied next to checkpoints
        for module, _ in imports_of(path):
            assert module.startswith(".") and not module.startswith("..") or module.split(".")[0] in REMOTE_CODE_IMPORTS, (
                f"{path.relative_to(REPO_ROOT)} imports {module}: a checkpoint's remote code cannot load it"
            )


def test_the_checker_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from dfer.cli import main\n")
    assert imports_of(bad) == [("dfer.cli", False)]
