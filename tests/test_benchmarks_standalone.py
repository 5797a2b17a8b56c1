"""Benchmarks are product code run as ``python -m benchmarks.NAME``: no test code, no path edits."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_imports_no_test_code_and_edits_no_path(path: Path):
    tree = ast.parse(path.read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name == "tests" or name.startswith("tests.")]
    assert "sys.path" not in ast.unparse(tree)
    module = importlib.import_module(f"benchmarks.{path.stem}")
    assert callable(getattr(module, "main", None)) and module.__doc__
