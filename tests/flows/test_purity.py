"""The flow engine stays pure Python."""

from __future__ import annotations

import ast
import sys

from support.flow_support import (
    FLOWS_DIR,
)

# --- purity -----------------------------------------------------------------------------------


def test_flows_package_imports_only_the_standard_library() -> None:
    # The one module outside flows/ that flows/ imports, the shared vocabulary, must be as pure.
    files = [*sorted(FLOWS_DIR.glob("*.py")), FLOWS_DIR.parent / "vocabulary.py"]
    assert len(files) >= 5
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", f"{path.name}: {name}"
