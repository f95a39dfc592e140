"""Project-wide guards: sortbox never imports luigi; no task writes to a target's path directly; pickles are
loaded only from the run's own outputs."""
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def python_files(*folders):
    for folder in folders:
        yield from sorted((REPO_ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", list(python_files("sortbox")), ids=lambda p: p.name)
def test_sortbox_never_imports_luigi(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        assert not any(n == "luigi" or n.startswith("luigi.") or n.startswith("tasks") for n in names), (
            f"{path} imports {names}"
        )


def test_importing_sortbox_does_not_import_luigi():
    code = "import sys, sortbox.extract, sortbox.clean, sortbox.textnorm; sys.exit(1 if 'luigi' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT).returncode == 0


@pytest.mark.parametrize("path", list(python_files("tasks", "workflows", "scripts")), ids=lambda p: p.name)
def test_no_direct_writes_to_output_path(path):
    """Writing to `self.output().path` leaves a partial file luigi takes as complete: go through
    `target.temporary_path()` / `atomic_output()` or `target.open('w')` instead."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "path":
            inner = node.value
            if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and inner.func.attr == "output":
                pytest.fail(f"{path}:{node.lineno}: uses output().path; write through temporary_path()/open('w')")


GENSIM_LOADERS = {"Dictionary", "TfidfModel", "LsiModel"}


@pytest.mark.parametrize("path", list(python_files("sortbox", "tasks", "workflows", "scripts")), ids=lambda p: p.name)
def test_pickles_are_loaded_only_from_the_runs_own_outputs(path):
    """gensim's load() unpickles: only ever from an upstream task's output directory of the same
    run tree (`self.input_dir(...)`, `self.input_path(...)`, or load_tfidf_inputs, which is only given those); nothing
    calls pickle/joblib load, and np.load never allows pickles."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
        if node.func.attr in ("load", "loads") and owner in ("pickle", "joblib", "dill", "cloudpickle"):
            pytest.fail(f"{path}:{node.lineno}: {owner}.{node.func.attr} in production code")
        if node.func.attr == "load" and owner == "np":
            assert not any(k.arg == "allow_pickle" for k in node.keywords), (
                f"{path}:{node.lineno}: np.load with allow_pickle"
            )
        if node.func.attr == "load" and owner in GENSIM_LOADERS:
            argument = ast.get_source_segment(source, node.args[0])
            assert "input_dir(" in argument or "input_path(" in argument or argument.startswith(
                ("str(dictionary_dir", "str(tfidf_dir")
            ), f"{path}:{node.lineno}: {owner}.load({argument})"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "load_tfidf_inputs":
            assert all("input_dir(" in ast.get_source_segment(source, a) for a in node.args), (
                f"{path}:{node.lineno}: load_tfidf_inputs from outside the run's inputs"
            )


def imported_by(module: str, candidates: tuple[str, ...]) -> list[str]:
    """Which of `candidates` a fresh interpreter has loaded once it has imported `module`."""
    code = f"import sys, {module}; print(' '.join(m for m in {candidates!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize(
    "module",
    [
        "sortbox.scoring",
        "sortbox.export",
        "sortbox.portable_scorer",
        "sortbox.model_file",
        "sortbox.linear",
        "sortbox.sampling",
    ],
)
def test_scoring_and_export_import_neither_the_database_layer_nor_scikit_learn(module):
    """Scoring, export and publishing are light: a scoring job needs no database driver, and
    importing scikit-learn alone costs ~0.5 s (the linear classifier, the logistic link and the
    training holdout live apart from model selection: sortbox.linear, sortbox.sampling)."""
    loaded = imported_by(module, ("sqlalchemy", "sklearn"))
    assert loaded == [], f"importing {module} imports {' '.join(loaded)}"


@pytest.mark.parametrize("module", ["workflows.nightly", "workflows.train", "workflows.score"])
def test_importing_the_dags_loads_no_heavy_library(module):
    """gensim, nltk and scikit-learn are imported by the functions that use them, so that a no-op
    rerun of the DAG (every task complete) does not pay for loading them."""
    loaded = imported_by(module, ("sklearn", "gensim", "nltk"))
    assert loaded == [], f"importing {module} imports {' '.join(loaded)}"


@pytest.mark.parametrize("folder", ["sortbox", "workflows", "scripts", "tests"])
def test_no_module_shadows_the_standard_library(folder):
    """A module named like a standard-library one (select, tokenize, ...) hides it from a script
    started in its folder and misleads a reader. tasks/ is not checked yet: tasks/tokenize.py."""
    shadowing = [str(p.relative_to(REPO_ROOT)) for p in python_files(folder) if p.stem in sys.stdlib_module_names]
    assert shadowing == []


def declared_artifacts() -> dict[str, set[str]]:
    """File name (or template) -> the tasks that declare it, over every task of tasks/ and workflows/."""
    import importlib

    from tasks.base import SortboxTask

    for path in python_files("tasks", "workflows"):
        importlib.import_module(".".join(path.relative_to(REPO_ROOT).with_suffix("").parts))
    found, stack = {}, [SortboxTask]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        for artifact in vars(cls).get("artifacts", {}).values():
            found.setdefault(artifact.file, set()).add(cls.__name__)
    return found


def knows_the_dag(path: Path) -> bool:
    """tasks/, workflows/, and the scripts that import them (or luigi's command line, which loads
    a workflow module). Scripts that run a workflow in a subprocess read its outputs as a user
    does, through the run manifest's `artifacts`."""
    if path.parent.name in ("tasks", "workflows"):
        return True
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    return any(m.split(".")[0] in ("tasks", "workflows") or m == "luigi.cmdline_parser" for m in imported)


def docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, kinds))]
    return {
        id(n.body[0].value)
        for n in nodes
        if n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)
    }


def test_artifact_file_names_are_declared_once():
    """The file names of task outputs are spelled only in the producing task's `artifacts`
    declaration: consumers, workflows and the scripts that know the DAG ask for them by key
    (`input_path`, `read_input`, `Task.artifact(key)`). The grep, in Python: every string literal
    (f-string parts included, docstrings excepted) of those files that is a declared name, ends
    with "/<name>", or spells a declared template."""
    declared = declared_artifacts()
    assert {"model.json", "scores.csv", "tokens.parquet", "summary.json", "review-{class_name}.csv"} <= set(declared)
    templates = {
        re.compile(re.sub(r"\\\{[^}]*\\\}", r"\\{[^}]*\\}", re.escape(name))): name for name in declared if "{" in name
    }
    found = []
    for path in filter(knows_the_dag, python_files("tasks", "workflows", "scripts")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        skip = docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Artifact" and node.args:
                skip.add(id(node.args[0]))
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                hits = [name for name in declared if node.value == name or node.value.endswith("/" + name)]
            elif isinstance(node, ast.JoinedStr):
                segment = ast.get_source_segment(source, node) or ""
                hits = [name for pattern, name in templates.items() if pattern.search(segment)]
            else:
                continue
            found += [
                f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {name!r} "
                f"(declared by {', '.join(sorted(declared[name]))})"
                for name in hits
            ]
    assert not found, "artifact file names outside their declarations:\n" + "\n".join(found)
