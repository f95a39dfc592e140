"""Rule files: reading dictionaries/labels/<class>.txt strictly, checking every pattern, fingerprinting them.

A rule is one regex a line, matched like `re.search(pattern, rule_text, RULE_FLAGS)`; its id is
`<file>:<line>`, its class the file's stem. A pattern is refused (RuleError naming file and line)
when Python cannot compile it, when it holds a control or invisible character, or when only
Python's backtracking `re` can match it and it nests unbounded repetitions.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from sortbox.regex_analysis import RULE_FLAGS, backtracking_risk
from sortbox.rule_engines import MAX_RULES, needs_backtracking_engine

#: Class names become file names, JSON keys, CSV column headers and command-line values, so they
#: are plain: ASCII letters, digits, '_' and '-', starting with a letter or digit, at most 64
#: characters (no way to smuggle a newline, a path separator or a leading '-' or '=').
CLASS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
CLASS_NAME_FORM = "1-64 ASCII letters, digits, '_' or '-', starting with a letter or digit"
#: Rule files are `<class>.txt`, UTF-8 (a byte order mark is allowed and dropped).
RULE_FILE_SUFFIX = ".txt"


class RuleError(ValueError):
    """A rule file or pattern is invalid; the message starts with `path:line:`."""


@dataclass(frozen=True)
class Rule:
    """One regex rule: `rule_id` is `<file>:<line>`, `label` the class (the file's stem)."""

    rule_id: str
    label: str
    pattern: str


@dataclass(frozen=True)
class RuleFiles:
    """What a rules directory holds: the rules, the classes whose file has none (class -> why:
    they are reported as skipped, never silently missing) and the names of the entries that are
    not rule files (ignored, listed in a warning)."""

    rules: list[Rule]
    empty_classes: dict[str, str]
    ignored: list[str]


def is_class_name(name: str) -> bool:
    """Whether `name` has the allowed form of a class name (CLASS_NAME_FORM)."""
    return CLASS_NAME.fullmatch(name) is not None


def rule_file_paths(rules_dir: Path) -> tuple[list[Path], list[str]]:
    """(rule files, names of the other entries) of `rules_dir`, both sorted by name.

    A rule file is a regular file named `*.txt` not starting with '.'; anything else (README.md,
    spam.txt~, .spam.txt.swp, spam.TXT, sub-directories) is not read.
    """
    rule_files, others = [], []
    for path in sorted(Path(rules_dir).iterdir()):
        name = path.name
        is_rule_file_name = name.endswith(RULE_FILE_SUFFIX) and not name.startswith(".")
        if is_rule_file_name and path.is_file():
            rule_files.append(path)
        elif is_rule_file_name and path.is_symlink() and not path.exists():
            # Meant as a rule file (a shared dictionary linked in), but its class would vanish.
            raise RuleError(
                f"{path}: a symbolic link to {os.readlink(path)!r}, which leads to no file: "
                "the rule file cannot be read"
            )
        else:
            others.append(name)
    return rule_files, others


def read_rule_files(rules_dir: Path) -> RuleFiles:
    """Read every `<class>.txt` under `rules_dir` (sorted), checking each pattern (`check_rule`).

    Blank lines and lines starting with `#` are ignored. Raises RuleError `<path>[:<line>]: <why>`
    for the first file that is not UTF-8 text, a class name of another form than CLASS_NAME_FORM
    or an invalid rule, and when there are no rules at all.
    """
    rules_dir = Path(rules_dir)
    if not rules_dir.is_dir():
        raise RuleError(f"{rules_dir}: rules directory does not exist")
    paths, ignored = rule_file_paths(rules_dir)
    rules: list[Rule] = []
    empty: dict[str, str] = {}
    for path in paths:
        label = path.name[: -len(RULE_FILE_SUFFIX)]
        if not is_class_name(label):
            raise RuleError(f"{rules_dir}/{path.name!r}: class name {label!r} must be {CLASS_NAME_FORM}")
        found = 0
        for line_no, line in enumerate(_rule_file_lines(path), start=1):
            # Only spaces and tabs are trimmed: any other invisible character is refused, not
            # silently dropped, even at the end of a line.
            pattern = line.strip(" \t")
            if not pattern.strip() or pattern.startswith("#"):
                continue
            problem = check_rule(pattern)
            if problem:
                raise RuleError(f"{path}:{line_no}: {problem}")
            rules.append(Rule(rule_id=f"{path.name}:{line_no}", label=label, pattern=pattern))
            found += 1
            if len(rules) > MAX_RULES:  # said now, not after extraction when the matcher is built
                raise RuleError(
                    f"{path}:{line_no}: more than the {MAX_RULES:,} rules one run can match "
                    f"(all files of {rules_dir} together)"
                )
        if not found:
            empty[label] = f"no rules: {path.name} is empty or holds only comments"
    if not rules:
        raise RuleError(f"{rules_dir}: no rules found (expected <class>.txt files, one regex a line)")
    return RuleFiles(rules=rules, empty_classes=empty, ignored=ignored)


def load_rules(rules_dir: Path) -> list[Rule]:
    """The rules of `read_rule_files` (raises RuleError the same way)."""
    return read_rule_files(rules_dir).rules


_OTHER_ENCODINGS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def _rule_file_lines(path: Path) -> list[str]:
    """The lines of a rule file read strictly as UTF-8 (a UTF-8 byte order mark dropped, CRLF
    accepted). Split on newlines only: str.splitlines would also split on form feeds and U+2028,
    and the line numbers (rule ids) would no longer be those an editor shows."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RuleError(f"{path}: cannot be read: {exc.strerror}") from None
    for mark, encoding in _OTHER_ENCODINGS:
        if data.startswith(mark):
            raise RuleError(
                f"{path}: the file is {encoding} (it starts with a {encoding} byte order mark); save it as UTF-8"
            )
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RuleError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    for line_no, line in enumerate(lines, start=1):
        if "\0" in line:  # NUL anywhere, comments included: the file is not what it looks like
            raise RuleError(
                f"{path}:{line_no}: NUL byte (U+0000): not UTF-8 text (UTF-16 saved without a byte order mark?); "
                "save the file as UTF-8"
            )
    return lines


def _invisible_character(pattern: str) -> str | None:
    """The first control, format or non-ASCII space/separator character of `pattern`, or None.

    Rule texts never contain one (cleaning turns every run of white space and control characters
    into one space), and some engines would misread it (Hyperscan stops a pattern at a NUL)."""
    for char in pattern:
        if char != " " and unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Zs"):
            return char
    return None


def check_rule(pattern: str) -> str | None:
    """Why `pattern` (a stripped rule line) cannot be a rule, or None when it is accepted.

    Refused: a control or invisible character; a pattern Python `re` cannot compile with
    RULE_FLAGS; one that needs Python's backtracking `re` and nests unbounded repetitions.
    """
    char = _invisible_character(pattern)
    if char is not None:
        name = unicodedata.name(char, "control character")
        return (
            f"{name} (U+{ord(char):04X}) in the rule: rule texts never contain control or invisible characters "
            "(cleaning makes every run of white space one space); write a space or \\s, or remove it"
        )
    try:
        re.compile(pattern, RULE_FLAGS)
    except re.error as exc:
        return str(exc)
    # re raises these outside re.error: they too are a bad rule, not a traceback without file:line.
    except ValueError as exc:  # (?u): Python re refuses UNICODE with the ASCII of RULE_FLAGS
        return f"{exc}: rules are matched with re.ASCII, remove the (?u) flag"
    except OverflowError as exc:  # a{4294967296}
        return str(exc)
    except RecursionError:  # a thousand nested groups
        return "groups nested too deeply for Python re"
    if needs_backtracking_engine(pattern):
        risk = backtracking_risk(pattern)
        if risk:
            return (
                f"{risk}: this rule needs Python's backtracking `re` (RE2 cannot compile it), "
                "where a hostile message could make it run for hours; rewrite it without the nested repetition "
                "or make the inner one possessive, e.g. (?:\\w+)++"
            )
    return None


def rules_fingerprint(rules_dir: Path) -> str:
    """Digest of the rule files' names and contents (part of LabelMessages' output hash)."""
    digest = hashlib.sha256()
    for path in rule_file_paths(rules_dir)[0]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
