"""Code copied between the self-contained model folders (which cannot import each other, nor the rest of `dfer`,
when loaded as remote code) must stay identical to its source.

A copy is marked transformers-style on the line right above the copied definition (function, class, method or
assignment), at its indentation:

    # Copied from dfer.modeling.gca_resnet.modeling_gca_resnet.eager_attention_forward
    # Copied from dfer.data.labels.EMOTION_LABELS with EMOTION_LABELS->DFEW_LABELS

`with A->B, C->D` lists the text replacements that turn the source into the copy. The check compares the source
text of the definition (decorators included, comment lines above it excluded) after those replacements.
"""

import ast
import importlib.util
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import dfer.modeling

MODELING_DIR = Path(dfer.modeling.__file__).resolve().parent
COPIED_FROM = re.compile(r"^(?P<indent>[ \t]*)# Copied from (?P<target>[\w.]+)(?: with (?P<replacements>.+?))?\s*$")
REPLACEMENT = re.compile(r"^(\S+)->(\S+)$")


@dataclass(frozen=True)
class CopyMarker:
    line: int  # 1-based line of the comment
    target: str
    replacements: tuple[tuple[str, str], ...]


def find_markers(source: str) -> list[CopyMarker]:
    markers = []
    for number, line in enumerate(source.splitlines(), start=1):
        match = COPIED_FROM.match(line)
        if match is None:
            continue
        replacements = []
        for item in (match["replacements"] or "").split(","):
            if not item.strip():
                continue
            pair = REPLACEMENT.match(item.strip())
            if pair is None:
                raise ValueError(f"line {number}: replacement {item.strip()!r} is not of the form A->B")
            replacements.append((pair[1], pair[2]))
        markers.append(CopyMarker(number, match["target"], tuple(replacements)))
    return markers


def _start_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [decorator.lineno for decorator in decorators])


def _defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [target.id for target in node.targets if isinstance(target, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _statements(tree: ast.AST):
    """Every statement of the module and of its classes and functions, at any depth."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            for child in getattr(node, field, None) or []:
                if isinstance(child, ast.stmt):
                    yield child


def _text(source_lines: list[str], node: ast.stmt) -> str:
    lines = source_lines[_start_line(node) - 1 : node.end_lineno]
    return textwrap.dedent("\n".join(line.rstrip() for line in lines))


def definition_source(source: str, qualified_name: str) -> str | None:
    """Dedented text of `Outer.inner` (a definition at module level, then inside each class) in `source`."""
    scope: list[ast.stmt] = ast.parse(source).body
    node = None
    for part in qualified_name.split("."):
        node = next((child for child in scope if part in _defined_names(child)), None)
        if node is None:
            return None
        scope = getattr(node, "body", [])
    return _text(source.splitlines(), node)


def copied_definition_source(source: str, marker: CopyMarker) -> str | None:
    """Dedented text of the definition that starts on the line after `marker`, or None if there is none."""
    lines = source.splitlines()
    for node in _statements(ast.parse(source)):
        if _start_line(node) == marker.line + 1 and _defined_names(node):
            return _text(lines, node)
    return None


def resolve_target(target: str) -> tuple[Path, str]:
    """(file, qualified name inside it) of a dotted `dfer...` path, found without importing the module."""
    parts = target.split(".")
    # `dfer.<package>` is a folder of the repository; find_spec imports only the `dfer` namespace for it.
    package = importlib.util.find_spec(".".join(parts[:2])) if len(parts) > 2 else None
    if package is not None and package.submodule_search_locations:
        folder = Path(next(iter(package.submodule_search_locations)))
        for split in range(len(parts) - 1, 1, -1):  # the longest module path first
            candidate = folder.joinpath(*parts[2:split])
            for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
                if path.is_file():
                    return path, ".".join(parts[split:])
    raise LookupError(f"cannot find the module of {target!r}")


def check_copies(source: str, filename: str, read_source=None) -> list[str]:
    """One message per marked copy in `source` that is missing, unresolvable or differs from its source."""
    read_source = read_source or (lambda path: path.read_text(encoding="utf-8"))
    problems = []
    for marker in find_markers(source):
        where = f"{filename}:{marker.line}"
        copy = copied_definition_source(source, marker)
        if copy is None:
            problems.append(f"{where}: no definition right after '# Copied from {marker.target}'")
            continue
        try:
            path, name = resolve_target(marker.target)
        except LookupError as error:
            problems.append(f"{where}: {error}")
            continue
        original = definition_source(read_source(path), name)
        if original is None:
            problems.append(f"{where}: {marker.target} not found in {path}")
            continue
        for old, new in marker.replacements:
            original = original.replace(old, new)
        if copy != original:
            problems.append(f"{where}: the copy differs from {marker.target}; update it (or its source) to match")
    return problems


def model_files() -> list[Path]:
    return sorted(path for path in MODELING_DIR.rglob("*.py") if "__pycache__" not in path.parts)


# ----------------------------------------------------------------------------------------------------------------


def test_marked_copies_match_their_sources():
    problems = [problem for path in model_files() for problem in check_copies(path.read_text(), str(path))]
    assert problems == []


@pytest.mark.parametrize(
    "relative_path, target",
    [
        ("gca_resnet/configuration_gca_resnet.py", "dfer.data.labels.EMOTION_LABELS"),
        ("logo_former/configuration_logo_former.py", "dfer.data.labels.EMOTION_LABELS"),
        ("logo_former/configuration_logo_former.py", "dfer.modeling.gca_resnet.configuration_gca_resnet._default_id2label"),
        ("logo_former/modeling_logo_former.py", "dfer.modeling.gca_resnet.modeling_gca_resnet.eager_attention_forward"),
        ("logo_former/modeling_logo_former.py", "dfer.modeling.gca_resnet.modeling_gca_resnet.REMOTE_CODE_AUTO_MAP"),
        (
            "logo_former/modeling_logo_former.py",
            "dfer.modeling.gca_resnet.modeling_gca_resnet.GcaResNetPreTrainedModel.save_pretrained",
        ),
        (
            "logo_former/modeling_logo_former.py",
            "dfer.modeling.gca_resnet.modeling_gca_resnet.GcaResNetModel.check_pixel_values",
        ),
    ],
)
def test_the_shared_code_is_marked(relative_path, target):
    # Removing a marker would silently end the check of that copy.
    markers = find_markers((MODELING_DIR / relative_path).read_text())
    assert target in {marker.target for marker in markers}


def test_label_copies_are_the_package_labels():
    from dfer.data.labels import EMOTION_LABELS
    from dfer.modeling.gca_resnet import DFEW_LABELS
    from dfer.modeling.logo_former import LOGO_FORMER_LABELS

    assert DFEW_LABELS == LOGO_FORMER_LABELS == EMOTION_LABELS


def test_an_altered_copy_is_detected():
    path = MODELING_DIR / "logo_former" / "modeling_logo_former.py"
    source = path.read_text()
    assert check_copies(source, path.name) == []
    altered = source.replace(
        "softmax(attention_scores, dim=-1, dtype=torch.float32).to(query.dtype)", "softmax(attention_scores, dim=-1)"
    )
    assert altered != source
    problems = check_copies(altered, path.name)
    assert len(problems) == 1 and "eager_attention_forward" in problems[0]


def test_an_altered_label_tuple_is_detected():
    path = MODELING_DIR / "gca_resnet" / "configuration_gca_resnet.py"
    source = path.read_text()
    altered = source.replace('"Surprise", "Disgust"', '"Disgust", "Surprise"', 1)
    assert altered != source
    problems = check_copies(altered, path.name)
    assert len(problems) == 1 and "dfer.data.labels.EMOTION_LABELS" in problems[0]


def test_a_changed_source_is_detected_too():
    # The source drifting from its copies counts as much as a copy drifting from its source.
    labels = Path(importlib.util.find_spec("dfer.data").submodule_search_locations[0]) / "labels.py"
    copy = (MODELING_DIR / "logo_former" / "configuration_logo_former.py").read_text()

    def read_source(path):
        text = path.read_text()
        return text.replace('"Fear")', '"Fear", "Contempt")') if path == labels else text

    problems = check_copies(copy, "configuration_logo_former.py", read_source)
    assert len(problems) == 1 and "EMOTION_LABELS" in problems[0]


def test_replacements_and_bad_markers():
    source = textwrap.dedent(
        '''
        # Copied from dfer.data.labels.EMOTION_LABELS with EMOTION_LABELS->MY_LABELS
        MY_LABELS = ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")

        # Copied from dfer.data.labels.EMOTION_LABELS
        MY_LABELS_UNRENAMED = ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")

        # Copied from dfer.data.labels.NO_SUCH_NAME
        OTHER = 1

        # Copied from dfer.data.labels.EMOTION_LABELS

        DETACHED = ()
        '''
    )
    problems = check_copies(source, "example.py")
    assert len(problems) == 3
    assert "example.py:5: the copy differs" in problems[0]  # the name differs without `with`
    assert "NO_SUCH_NAME not found" in problems[1]
    assert "example.py:11: no definition right after" in problems[2]
