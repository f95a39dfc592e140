"""The README's "Bad input: what happens" table: every test it names exists, so the table cannot rot."""
import importlib
import re

from tests.conftest import REPO_ROOT


def catalogue_rows() -> list[tuple[str, list[str]]]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Bad input: what happens", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| input")]
    return [(row.split("|")[1].strip(), re.findall(r"`(tests/[^`]+\.py::\w+)`", row)) for row in rows]


def test_every_row_names_tests_that_exist():
    rows = catalogue_rows()
    assert len(rows) >= 20
    for what, tests in rows:
        assert tests, f"README bad-input row {what!r} names no test"
        for test in tests:
            path, name = test.split("::")
            module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
            assert callable(getattr(module, name, None)), f"README bad-input row {what!r}: {test} does not exist"


def test_the_catalogue_covers_the_issue_list():
    covered = " ".join(what for what, _ in catalogue_rows()).lower()
    for item in (
        "null text",
        "empty text",
        "white space",
        "emoji",
        "control characters",
        "1 mb",
        "duplicate ids",
        "non-utf-8",
        "missing configured column",
        "empty table",
        "window with no rows",
        "all rows unscorable",
        "0 positives",
        "2 positives",
        "invalid regex",
        "catastrophic-backtracking",
        "unknown separators",
        "postgres down",
        "dropped mid-extract",
        "statement_timeout",
        "injection",
    ):
        assert item in covered, item
