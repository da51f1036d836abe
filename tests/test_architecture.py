"""The rooms and their one-way arrows (docs/architecture.md), checked on every import statement
of the packages, lazy ones inside functions included:

    contract <- evaluator
    contract <- submissions <- leaderboard      (leaderboard: submissions' public API only)
    everything <- backend <- app.py

and the contract and the read side start without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("contract", "evaluator", "submissions", "leaderboard", "backend")
# package -> the project packages its modules may import
ALLOWED = {
    "contract": {"contract"},
    "evaluator": {"contract", "evaluator"},
    "submissions": {"contract", "submissions"},
    "leaderboard": {"contract", "submissions", "leaderboard"},
    "backend": set(PACKAGES),
}


def project_imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import of a project package in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.split(".")[0] in PACKAGES]
    return found


def violations() -> list[str]:
    out = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, module in project_imports(path):
                top = module.split(".")[0]
                where = f"{path.relative_to(ROOT)}:{line} imports {module}"
                if top not in allowed:
                    out.append(where)
                elif package == "leaderboard" and top == "submissions" and module != top:
                    out.append(f"{where} (use the public API: `from submissions import ...`)")
    return out


def test_no_side_imports_another_sides_internals() -> None:
    assert violations() == []


def test_the_checker_sees_lazy_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from evaluator.run import RunSpec\n    import backend.worker\n"
    )
    # a lazy import is an arrow all the same
    assert project_imports(module) == [(2, "evaluator.run"), (3, "backend.worker")]


@pytest.mark.parametrize(
    "module",
    ["contract.names", "contract.form", "contract.run_spec", "contract.checks", "submissions",
     "leaderboard.table", "leaderboard.service", "leaderboard.csv_export", "backend.worker"],
)  # fmt: skip
def test_the_contract_and_the_read_side_start_without_torch(module: str) -> None:
    heavy = "('torch', 'transformers')"
    code = f"import sys, {module}; print(sorted(m for m in {heavy} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", f"{module} imports {done.stdout.strip()}"
