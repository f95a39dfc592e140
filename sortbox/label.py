"""Labelling: regular-expression rules from dictionaries/labels/<class>.txt, or labels from a column.

The semantics are those of Python `re.search(pattern, rule_text, re.IGNORECASE | re.ASCII)` for
every rule; no engine loops over rules in Python per message:

- `HyperscanMatcher` (preferred): all rules in one Hyperscan database, and a whole chunk of
  messages scanned in one call, joined by newlines (rule texts hold none). A match is given to
  the message its last byte lies in. Only a rule that can match a newline could straddle two
  messages; its hits are confirmed with `re` on the message alone. A rule Hyperscan cannot
  compile, or that can match an empty string or uses a whole-string anchor, is matched with `re` on its own.
- `RuleMatcher`: one RE2 set, one call per message (the fallback where hyperscan is missing).
  On the benchmark data its lazy DFA keeps building new states (novel words), so it ran at
  ~60-130k messages/s there, against ~400k+ for Hyperscan.

A pattern naming a non-ASCII letter (itself, an escape, a range) is always matched with `re`:
the engines case-fold it differently from `re.ASCII`. So is, for every rule, a text holding one
of `_ENGINE_UNSAFE_CHARS` (tests/unit/test_rule_engines_fuzz.py compares the engines with `re`).
"""
from __future__ import annotations

import bisect
import codecs
import hashlib
import os
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import re2

try:  # optional at import: the RE2 engine serves where the wheel is unavailable
    import hyperscan
except ImportError:  # pragma: no cover - exercised only on platforms without the wheel
    hyperscan = None

#: Flags of the reference semantics (and of the fallback engine).
RULE_FLAGS = re.IGNORECASE | re.ASCII
#: Class names become file names, JSON keys, CSV column headers and command-line values, so they
#: are plain: ASCII letters, digits, '_' and '-', starting with a letter or digit, at most 64
#: characters (no way to smuggle a newline, a path separator or a leading '-' or '=').
CLASS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
CLASS_NAME_FORM = "1-64 ASCII letters, digits, '_' or '-', starting with a letter or digit"
#: Rule files are `<class>.txt`, UTF-8 (a byte order mark is allowed and dropped).
RULE_FILE_SUFFIX = ".txt"
#: HyperscanMatcher packs a rule's index in 16 bits.
MAX_RULES = (1 << 16) - 1


class RuleError(ValueError):
    """A rule file or pattern is invalid; the message starts with `path:line:`."""


class LabelColumnError(ValueError):
    """A label cell cannot be read as a list of class names."""


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
            raise RuleError(f"{path}: a symbolic link to {os.readlink(path)!r}, which leads to no file: the rule file cannot be read")
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
                raise RuleError(f"{path}:{line_no}: more than the {MAX_RULES:,} rules one run can match (all files of {rules_dir} together)")
        if not found:
            empty[label] = f"no rules: {path.name} is empty or holds only comments"
    if not rules:
        raise RuleError(f"{rules_dir}: no rules found (expected <class>.txt files, one regex a line)")
    return RuleFiles(rules=rules, empty_classes=empty, ignored=ignored)


def load_rules(rules_dir: Path) -> list[Rule]:
    """The rules of `read_rule_files` (raises RuleError the same way)."""
    return read_rule_files(rules_dir).rules


_OTHER_ENCODINGS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
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
            raise RuleError(f"{path}: the file is {encoding} (it starts with a {encoding} byte order mark); save it as UTF-8")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RuleError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8") from None
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    for line_no, line in enumerate(lines, start=1):
        if "\0" in line:  # NUL anywhere, comments included: the file is not what it looks like
            raise RuleError(f"{path}:{line_no}: NUL byte (U+0000): not UTF-8 text (UTF-16 saved without a byte order mark?); save the file as UTF-8")
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
        return (f"{name} (U+{ord(char):04X}) in the rule: rule texts never contain control or invisible characters "
                "(cleaning makes every run of white space one space); write a space or \\s, or remove it")
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
    if _needs_backtracking_engine(pattern):
        risk = backtracking_risk(pattern)
        if risk:
            return (f"{risk}: this rule needs Python's backtracking `re` (RE2 cannot compile it), "
                    "where a hostile message could make it run for hours; rewrite it without the nested repetition "
                    "or make the inner one possessive, e.g. (?:\\w+)++")
    return None


_UNBOUNDED = re._constants.MAXREPEAT
_REPEATS = {re._constants.MAX_REPEAT, re._constants.MIN_REPEAT}


def backtracking_risk(pattern: str) -> str | None:
    """Why `pattern` may take exponential time in a backtracking engine, or None.

    The classic catastrophic shape: an unbounded repetition of something that itself contains an
    unbounded repetition, e.g. `(a+)+`, `(\\w+\\s?)*`, `(?:x*y?)+`. Possessive repetitions and
    atomic groups never backtrack into themselves, so they are not counted.
    """
    def walk(items, inside_unbounded: bool) -> str | None:
        for op, arg in items:
            if op in _REPEATS:
                low, high, sub = arg
                unbounded = high == _UNBOUNDED
                if unbounded and inside_unbounded:
                    return "nested unbounded repetition (catastrophic backtracking)"
                found = walk(sub, inside_unbounded or unbounded)
            elif op == re._constants.SUBPATTERN:
                found = walk(arg[-1], inside_unbounded)
            elif op == re._constants.BRANCH:
                found = next((r for r in (walk(branch, inside_unbounded) for branch in arg[1]) if r), None)
            elif op in (re._constants.ASSERT, re._constants.ASSERT_NOT):
                found = walk(arg[1], inside_unbounded)
            else:  # literals, classes, anchors, POSSESSIVE_REPEAT and ATOMIC_GROUP (no backtracking)
                found = None
            if found:
                return found
        return None

    return walk(re._parser.parse(pattern, RULE_FLAGS), False)


def _needs_backtracking_engine(pattern: str) -> bool:
    """Whether a rule is matched with Python `re` instead of a linear-time engine (see the matchers)."""
    if _has_non_ascii_letters(pattern) or _can_match_empty(pattern):
        return True
    try:
        re2.compile(pattern, _re2_options())
    except re2.error:
        return True
    return False


def rules_fingerprint(rules_dir: Path) -> str:
    """Digest of the rule files' names and contents (part of LabelMessages' output hash)."""
    digest = hashlib.sha256()
    for path in rule_file_paths(rules_dir)[0]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # RE2 would print every rejected pattern to stderr
    options.max_mem = 256 << 20  # room for the DFA of several hundred patterns
    return options


def _has_non_ascii_letters(pattern: str) -> bool:
    """Whether `pattern` names a non-ASCII cased character: written as itself (é), as an escape
    (\\xe9, \\u00e9) or inside a range ([\\xc0-\\xff]). RE2 and Hyperscan case-fold those (É, and ẞ
    for ß), `re.ASCII` does not."""
    if pattern.isascii() and "\\" not in pattern:
        return False  # fast path: no non-ASCII character can be named
    return any(_range_has_non_ascii_cased(low, high) for low, high in _literal_ranges(re._parser.parse(pattern, RULE_FLAGS)))


def _can_match_empty(pattern: str) -> bool:
    return re._parser.parse(pattern, RULE_FLAGS).getwidth()[0] == 0


def _literal_ranges(items) -> Iterable[tuple[int, int]]:
    """Every (low, high) code point range a parsed pattern names, single characters as (c, c)."""
    for op, arg in items:
        if op in (re._constants.LITERAL, re._constants.NOT_LITERAL):
            yield arg, arg
        elif op is re._constants.RANGE:
            yield arg
        elif op is re._constants.IN:
            yield from _literal_ranges(arg)
        else:  # groups, repetitions, branches, lookarounds: look inside
            for sub in _sub_patterns(arg):
                yield from _literal_ranges(sub)


def _sub_patterns(arg) -> Iterable:
    if isinstance(arg, re._parser.SubPattern):
        yield arg
    elif isinstance(arg, (tuple, list)):
        for item in arg:
            yield from _sub_patterns(item)


def _is_cased(char: str) -> bool:
    return char.lower() != char or char.upper() != char or char.casefold() != char


@lru_cache(maxsize=1)
def _non_ascii_cased() -> list[int]:
    """Sorted code points above U+007F that have a case (for the range check; built once, ~0.5 s)."""
    return [code for code in range(0x80, sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF and _is_cased(chr(code))]


def _range_has_non_ascii_cased(low: int, high: int) -> bool:
    if high < 0x80:
        return False
    if low == high:
        return _is_cased(chr(low))
    cased = _non_ascii_cased()
    position = bisect.bisect_left(cased, max(low, 0x80))
    return position < len(cased) and cased[position] <= high


# Texts the linear engines read differently from `re.search(..., re.IGNORECASE | re.ASCII)`, found
# by tests/unit/test_rule_engines_fuzz.py: both case-fold U+017F (long s) with s and U+212A (Kelvin
# sign) with k, and RE2's \\s does not include \\v. A text holding one is matched with `re`
# (cleaning's NFKC removes the first two, and every control character, so in practice: never).
_ENGINE_UNSAFE_CHARS = "\u017f\u212a\x0b"
_ENGINE_UNSAFE = re.compile(f"[{_ENGINE_UNSAFE_CHARS}]")
_ENGINE_UNSAFE_BYTES = re.compile(b"\xc5\xbf|\xe2\x84\xaa|\x0b")


class RuleMatcher:
    """Finds, for a text, the indices of every rule that matches it (in `rules` order).

    `fallback_rule_ids` lists the rules matched with Python `re` instead of the RE2 set.
    """

    def __init__(self, rules: Sequence[Rule]):
        self.rules = list(rules)
        self._set = re2.Set.SearchSet(_re2_options())
        self._set_to_rule: list[int] = []
        self._fallback: list[tuple[int, re.Pattern]] = []
        for index, rule in enumerate(self.rules):
            # An empty match is position-dependent (RE2 finds \\B in an empty text, re does not).
            if not _has_non_ascii_letters(rule.pattern) and not _can_match_empty(rule.pattern):
                try:
                    self._set.Add(rule.pattern)
                    self._set_to_rule.append(index)
                    continue
                except re2.error:
                    pass
            self._fallback.append((index, re.compile(rule.pattern, RULE_FLAGS)))
        self._set.Compile()
        # When every rule is in the set, set index == rule index and no mapping is needed.
        self._identity = self._set_to_rule == list(range(len(self.rules)))
        self.fallback_rule_ids = [self.rules[i].rule_id for i, _ in self._fallback]
        self._in_set = [(index, re.compile(self.rules[index].pattern, RULE_FLAGS)) for index in self._set_to_rule]

    def match(self, text: str | bytes) -> list[int]:
        """Indices of the rules whose pattern is found in `text` (str, or its UTF-8 bytes), unordered."""
        if (_ENGINE_UNSAFE if isinstance(text, str) else _ENGINE_UNSAFE_BYTES).search(text):
            decoded = text if isinstance(text, str) else text.decode("utf-8")
            return [index for index, pattern in self._in_set + self._fallback if pattern.search(decoded)]
        found = self._set.Match(text)
        hits = [self._set_to_rule[i] for i in found] if found and not self._identity else list(found or ())
        if self._fallback:
            decoded = text if isinstance(text, str) else text.decode("utf-8")
            hits.extend(index for index, pattern in self._fallback if pattern.search(decoded))
        return hits

    def match_many(self, texts: Iterable[str | bytes]) -> list[list[int]]:
        """`match` for each text. Passing UTF-8 bytes (e.g. from an Arrow binary column) saves
        one encoding per message; with no fallback rule this is one RE2 call per message."""
        if isinstance(texts, (pa.Array, pa.ChunkedArray)):
            texts = _as_string_array(texts).cast(pa.binary()).to_pylist()
        return [self.match(text) for text in texts]


def _can_match_newline(items, dotall: bool) -> bool:
    """Whether a parsed regex (re._parser items) can consume a newline anywhere. Conservative:
    anything not understood counts as yes."""
    from re import _constants as c

    def item_matches(op, arg) -> bool:
        if op is c.LITERAL:
            return arg == 10
        if op is c.NOT_LITERAL:
            return arg != 10
        if op is c.ANY:
            return dotall
        if op is c.RANGE:
            return arg[0] <= 10 <= arg[1]
        if op is c.CATEGORY:
            return arg in (c.CATEGORY_SPACE, c.CATEGORY_NOT_WORD, c.CATEGORY_NOT_DIGIT, c.CATEGORY_LINEBREAK)
        return True

    for op, arg in items:
        if op is c.IN:
            negate = bool(arg) and arg[0][0] is c.NEGATE
            members = arg[1:] if negate else arg
            if any(item_matches(o, a) for o, a in members) != negate:
                return True
        elif op in (c.LITERAL, c.NOT_LITERAL, c.ANY, c.CATEGORY):
            if item_matches(op, arg):
                return True
        elif op is c.AT:
            continue
        elif op is c.SUBPATTERN:
            _, add_flags, del_flags, inner = arg
            inner_dotall = (dotall or bool(add_flags & re.DOTALL)) and not del_flags & re.DOTALL
            if _can_match_newline(inner, inner_dotall):
                return True
        elif op is c.BRANCH:
            if any(_can_match_newline(branch, dotall) for branch in arg[1]):
                return True
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            if _can_match_newline(arg[2], dotall):
                return True
        else:
            return True  # lookarounds, back references, conditionals: assume it can
    return False


def _chunk_scannable(pattern: str) -> str:
    """'exact', 'verify' (may straddle two messages) or 'alone' (must be matched per message)."""
    from re import _constants as c
    from re import _parser

    parsed = _parser.parse(pattern, RULE_FLAGS)
    if parsed.getwidth()[0] == 0:
        return "alone"  # can match an empty string: position-dependent, rare, keep it simple

    def has_string_anchor(items) -> bool:
        for op, arg in items:
            if op is c.AT and arg in (c.AT_BEGINNING_STRING, c.AT_END_STRING):
                return True
            if op is c.SUBPATTERN and has_string_anchor(arg[3]):
                return True
            if op is c.BRANCH and any(has_string_anchor(b) for b in arg[1]):
                return True
            if op in (c.MAX_REPEAT, c.MIN_REPEAT) and has_string_anchor(arg[2]):
                return True
        return False

    if has_string_anchor(parsed.data):
        return "alone"
    return "verify" if _can_match_newline(parsed.data, bool(parsed.state.flags & re.DOTALL)) else "exact"


class HyperscanMatcher:
    """All rules in Hyperscan databases; a chunk of messages is scanned in one call.

    Two compilations of the same rules: byte mode for ASCII messages (most of them; for ASCII
    text it is exactly UTF-8 mode, and faster) and UTF-8 mode for the others.
    `fallback_rule_ids` lists the rules matched with Python `re` on each message instead.
    """

    _BASE_FLAGS = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_MULTILINE if hyperscan is not None else 0

    def __init__(self, rules: Sequence[Rule]):
        if hyperscan is None:
            raise RuntimeError("the hyperscan package is not installed")
        self.rules = list(rules)
        modes = {"ascii": self._BASE_FLAGS, "utf8": self._BASE_FLAGS | hyperscan.HS_FLAG_UTF8}
        expressions, ids = [], []
        self._alone: list[tuple[int, re.Pattern]] = []
        self._verify: dict[int, re.Pattern] = {}
        self._scanned: list[tuple[int, re.Pattern]] = []  # for the texts the engine would misread
        for index, rule in enumerate(self.rules):
            kind = "alone" if _has_non_ascii_letters(rule.pattern) else _chunk_scannable(rule.pattern)
            if kind == "alone" or not all(self._compiles(rule.pattern, flags) for flags in modes.values()):
                self._alone.append((index, re.compile(rule.pattern, RULE_FLAGS)))
                continue
            if kind == "verify":
                self._verify[index] = re.compile(rule.pattern, RULE_FLAGS)
            self._scanned.append((index, re.compile(rule.pattern, RULE_FLAGS)))
            expressions.append(rule.pattern.encode())
            ids.append(index)
        self._databases: dict[str, tuple] = {}
        if expressions:
            for mode, flags in modes.items():
                # Byte mode would read a non-ASCII literal as separate bytes ("£?" makes only its
                # last byte optional): such a rule keeps UTF-8 mode in the ASCII database too.
                per_rule = [flags if mode == "utf8" or e.isascii() else modes["utf8"] for e in expressions]
                database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
                database.compile(expressions=expressions, ids=ids, flags=per_rule)
                self._databases[mode] = (database, hyperscan.Scratch(database))
        self.fallback_rule_ids = [self.rules[i].rule_id for i, _ in self._alone]

    @staticmethod
    def _compiles(pattern: str, flags: int) -> bool:
        try:
            hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK).compile(expressions=[pattern.encode()], flags=[flags])
            return True
        except hyperscan.error:
            return False

    def _scan(self, mode: str, texts: pa.StringArray, rows: np.ndarray) -> np.ndarray:
        """Packed (message row << 16 | rule) pairs found in `texts` (the messages `rows`)."""
        database, scratch = self._databases[mode]
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(texts)], pa.int32()), texts), "\n")[0].as_buffer()
        if np.count_nonzero(np.frombuffer(joined, dtype=np.uint8) == 10) != len(texts) - 1:
            raise ValueError("rule texts must not contain newlines (use sortbox.textnorm.rule_view)")
        found: list[int] = []
        add = found.append

        def on_match(rule_index, _start, end, _flags, _context):
            add(end << 16 | rule_index)  # one append per match: this callback is the hot spot

        database.scan(memoryview(joined), match_event_handler=on_match, scratch=scratch)
        if not found:
            return np.zeros(0, dtype=np.int64)
        packed = np.asarray(found, dtype=np.int64)
        offsets = np.frombuffer(texts.buffers()[1], dtype=np.int32, count=len(texts) + 1, offset=4 * texts.offset).astype(np.int64)
        starts = offsets[:-1] - offsets[0] + np.arange(len(texts))  # each newline adds one byte
        # The message holding a match's last byte (`end` is exclusive).
        owners = np.searchsorted(starts, (packed >> 16) - 1, side="right") - 1
        return rows[owners] << 16 | (packed & 0xFFFF)

    def match_csr(self, texts) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, sorted rule indices) of the hits of each text: an Arrow string array, or a
        sequence of str / UTF-8 bytes. Texts must not contain newlines (see `rule_view`)."""
        if len(self.rules) > MAX_RULES:
            raise ValueError(f"at most {MAX_RULES:,} rules")
        array = _as_string_array(texts)
        count = len(array)
        pairs = [np.zeros(0, dtype=np.int64)]
        if self._databases and count:
            # ASCII exactly when bytes == characters (much faster than pc.string_is_ascii here).
            is_ascii = pc.equal(pc.binary_length(array), pc.utf8_length(array)).to_numpy(zero_copy_only=False)
            unsafe = pc.match_substring_regex(array, _ENGINE_UNSAFE.pattern).to_numpy(zero_copy_only=False)
            for mode, wanted in (("ascii", True), ("utf8", False)):
                rows = np.flatnonzero((is_ascii == wanted) & ~unsafe)
                if len(rows):
                    pairs.append(self._scan(mode, array.take(pa.array(rows)), rows))
            for row in np.flatnonzero(unsafe).tolist():
                text = array[row].as_py()
                pairs.append(np.array([row << 16 | index for index, pattern in self._scanned if pattern.search(text)], dtype=np.int64))
        packed = _sorted_unique(np.concatenate(pairs))
        if self._verify and len(packed):
            keep = np.ones(len(packed), dtype=bool)
            to_check = np.flatnonzero(np.isin(packed & 0xFFFF, np.fromiter(self._verify, dtype=np.int64)))
            for position in to_check.tolist():
                row, rule_index = int(packed[position] >> 16), int(packed[position] & 0xFFFF)
                keep[position] = self._verify[rule_index].search(array[row].as_py()) is not None
            packed = packed[keep]
        if self._alone:
            decoded = array.to_pylist()
            extra = [row << 16 | index for index, pattern in self._alone for row, text in enumerate(decoded) if pattern.search(text)]
            packed = _sorted_unique(np.concatenate([packed, np.asarray(extra, dtype=np.int64)]))
        indptr = np.searchsorted(packed >> 16, np.arange(count + 1))
        return indptr, packed & 0xFFFF

    def match_many(self, texts) -> list[list[int]]:
        """Indices of the rules matching each text, sorted (lists; `match_csr` is the fast form)."""
        indptr, indices = self.match_csr(texts)
        flat = indices.tolist()
        return [flat[indptr[row] : indptr[row + 1]] for row in range(len(indptr) - 1)]


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    # Sorting and dropping repeats: several times faster here than np.unique (hash based).
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered


def _as_string_array(texts) -> pa.StringArray:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if isinstance(texts, pa.Array):
        return texts.cast(pa.string())
    items = list(texts)
    if items and isinstance(items[0], (bytes, bytearray)):
        return pa.array(items, pa.binary()).cast(pa.string())
    return pa.array(items, pa.string())


def best_matcher(rules: Sequence[Rule]) -> "HyperscanMatcher | RuleMatcher":
    """Hyperscan when installed, else the RE2 set (same hits either way)."""
    return HyperscanMatcher(rules) if hyperscan is not None else RuleMatcher(rules)


def match_with_re(rules: Sequence[Rule], texts: Iterable[str]) -> list[list[int]]:
    """The reference: a Python loop over `re.search` per rule (slow; for checks and benchmarks)."""
    compiled = [re.compile(rule.pattern, RULE_FLAGS) for rule in rules]
    return [[i for i, pattern in enumerate(compiled) if pattern.search(text)] for text in texts]


def parse_label_cell(cell: str | None, separator: str) -> list[str]:
    """Split one label cell into sorted distinct class names ('' or NULL: no label).

    Raises LabelColumnError when a part is not a plain class name, which usually means the
    cell uses another separator than the configured one.
    """
    if cell is None or not cell.strip():
        return []
    labels = sorted({part.strip() for part in cell.split(separator) if part.strip()})
    for label in labels:
        if not is_class_name(label):
            raise LabelColumnError(
                f"label {label!r} (cell {cell!r}) is not a class name ({CLASS_NAME_FORM}); "
                f"is [source] label_separator = {separator!r} the separator this column uses?"
            )
    return labels


def _as_csr(hits: "Sequence[Sequence[int]] | pa.Array") -> tuple[np.ndarray, np.ndarray]:
    """(indptr, indices) of per-message rule hits given as lists or an Arrow list column."""
    if isinstance(hits, pa.ChunkedArray):
        hits = hits.combine_chunks()
    if isinstance(hits, pa.ListArray):
        offsets = hits.offsets.to_numpy().astype(np.int64)
        values = hits.values.to_numpy(zero_copy_only=False).astype(np.int64)
        return offsets - offsets[0], values[offsets[0] : offsets[-1]]
    indptr, indices = hits_to_csr(hits)
    return np.asarray(indptr, dtype=np.int64), np.asarray(indices, dtype=np.int64)


def _add(counter: Counter, indices: np.ndarray) -> None:
    """counter[i] += how often i occurs in indices."""
    values, counts = np.unique(indices, return_counts=True)
    counter.update(dict(zip(values.tolist(), counts.tolist())))


@dataclass
class RuleStats:
    """Per-rule and per-class counts accumulated over chunks, for the rule report.

    Snorkel-style: coverage (share of messages a rule hits), overlap (share of its hits that
    another rule also hits), conflict (share of its hits that a rule of another class also
    hits) and, where a truth column exists, precision (share of its hits whose truth includes
    its class). A rule more than half of whose hits belong to one other class (by the truth when
    it knows the rule's class, else by that class's rules) is flagged in `rule_rows`. Examples are
    the first messages (in order) each rule hits.
    """

    rules: list[Rule]
    examples_per_rule: int = 3
    messages: int = 0
    hits: Counter = field(default_factory=Counter)
    overlaps: Counter = field(default_factory=Counter)
    conflicts: Counter = field(default_factory=Counter)
    correct: Counter = field(default_factory=Counter)
    judged: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)
    class_counts: dict = field(default_factory=dict)
    truth_classes: set = field(default_factory=set)
    # (rule index, class name) -> hits of the rule that a rule of that other class also labels /
    # whose truth holds that other class and not the rule's own.
    other_by_rules: Counter = field(default_factory=Counter)
    other_by_truth: Counter = field(default_factory=Counter)

    def update(self, ids: Sequence[str], texts: "Sequence[str | bytes] | pa.Array", hits: "Sequence[Sequence[int]] | pa.Array", truth: "Sequence[Sequence[str]] | pa.Array | None") -> None:
        """Add one chunk: message ids, rule texts (str or UTF-8), rule hits and (optionally) true
        classes, as Python lists or Arrow list columns. Counted with numpy over (message, rule)
        and (message, class) pairs, not message by message."""
        indptr, indices = _as_csr(hits)
        messages = len(indptr) - 1
        self.messages += messages
        rule_class = np.array([self._class_code(rule.label) for rule in self.rules], dtype=np.int64)
        true_rows, true_codes = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        if truth is not None:
            true_lists = truth if isinstance(truth, (pa.Array, pa.ChunkedArray)) else pa.array(list(truth), type=pa.list_(pa.string()))
            true_lists = true_lists.combine_chunks() if isinstance(true_lists, pa.ChunkedArray) else true_lists
            names = pc.list_flatten(true_lists).to_pylist()
            self.truth_classes.update(names)
            true_rows = pc.list_parent_indices(true_lists).to_numpy().astype(np.int64)
            true_codes = np.array([self._class_code(name) for name in names], dtype=np.int64)
        width = len(self._class_names)
        rows = np.repeat(np.arange(messages, dtype=np.int64), np.diff(indptr))
        hit_keys = rows * width + rule_class[indices]  # (message, class of the rule) per hit
        predicted = np.unique(hit_keys)
        true = np.unique(true_rows * width + true_codes)
        predicted_per_class = np.bincount(predicted % width, minlength=width)
        true_per_class = np.bincount(true % width, minlength=width)
        both_per_class = np.bincount(np.intersect1d(predicted, true, assume_unique=True) % width, minlength=width)
        for code in np.flatnonzero(predicted_per_class + true_per_class):
            counts = self.class_counts.setdefault(self._class_names[code], Counter())
            counts["predicted"] += int(predicted_per_class[code])
            if truth is not None:
                counts["true"] += int(true_per_class[code])
                counts["true_positive"] += int(both_per_class[code])
        classes_per_message = np.bincount(predicted // width, minlength=messages)
        _add(self.hits, indices)
        _add(self.overlaps, indices[np.diff(indptr)[rows] > 1])
        _add(self.conflicts, indices[classes_per_message[rows] > 1])
        if truth is not None:
            _add(self.judged, indices)
            correct = np.isin(hit_keys, true)
            _add(self.correct, indices[correct])
            wrong = ~correct  # hits whose truth lacks the rule's class: which class does it hold?
            self._add_other_classes(self.other_by_truth, rows[wrong], indices[wrong], rule_class, true, messages)
        self._add_other_classes(self.other_by_rules, rows, indices, rule_class, predicted, messages)
        self._add_examples(ids, texts, rows, indices)

    def _add_other_classes(self, counter: Counter, rows: np.ndarray, indices: np.ndarray, rule_class: np.ndarray, keys: np.ndarray, messages: int) -> None:
        """counter[(rule, class)] += hits of the rule whose message has `class` among `keys`
        (sorted message * width + class codes), for every class other than the rule's own."""
        width = len(self._class_names)
        starts = np.searchsorted(keys // width, np.arange(messages + 1))
        per_hit = np.diff(starts)[rows]  # classes the message of each hit has
        hit = np.repeat(np.arange(len(rows)), per_hit)
        offsets = np.concatenate(([0], np.cumsum(per_hit)))[:-1]
        classes = keys[starts[rows][hit] + np.arange(len(hit)) - offsets[hit]] % width
        rules = indices[hit]
        other = classes != rule_class[rules]
        pairs, counts = np.unique(rules[other] * width + classes[other], return_counts=True)
        for pair, count in zip(pairs.tolist(), counts.tolist()):
            counter[(pair // width, self._class_names[pair % width])] += count

    def __post_init__(self) -> None:
        self._codes: dict[str, int] = {}  # class name -> column in the (message, class) pair keys
        self._class_names: list[str] = []

    def _class_code(self, name: str) -> int:
        if name not in self._codes:
            self._codes[name] = len(self._class_names)
            self._class_names.append(name)
        return self._codes[name]

    def _add_examples(self, ids, texts, rows: np.ndarray, indices: np.ndarray) -> None:
        """The first messages (in order) each rule hit, up to `examples_per_rule`."""
        wanting = [int(i) for i in np.unique(indices) if len(self.examples.get(int(i), [])) < self.examples_per_rule]
        if not wanting:
            return
        order = np.argsort(indices, kind="stable")  # by rule, then message order
        by_rule = indices[order]
        starts, ends = np.searchsorted(by_rule, wanting, side="left"), np.searchsorted(by_rule, wanting, side="right")
        for rule, start, end in zip(wanting, starts, ends):
            examples = self.examples.setdefault(rule, [])
            # Never past `end`: the positions after it are the next rule's hits.
            for position in order[start : min(end, start + self.examples_per_rule - len(examples))]:
                row = int(rows[position])
                text = texts[row]
                text = text.as_py() if isinstance(text, pa.Scalar) else text
                text = text if isinstance(text, str) else text.decode("utf-8")
                message_id = ids[row].as_py() if isinstance(ids[row], pa.Scalar) else ids[row]
                examples.append({"id": message_id, "text": text[:200]})

    def rule_rows(self) -> list[dict]:
        """One dict per rule, in rule order (rules that never fire have hits = 0)."""
        rows = []
        others: dict[tuple[str, int], list[tuple[int, str]]] = {}
        for basis, counter in (("truth", self.other_by_truth), ("rules", self.other_by_rules)):
            for (index, name), count in counter.items():
                others.setdefault((basis, index), []).append((count, name))
        for i, rule in enumerate(self.rules):
            hits = self.hits[i]
            judged_here = rule.label in self.truth_classes and self.judged[i] > 0
            basis = "truth" if judged_here else "rules"  # of "mostly another class"
            rows.append(
                {
                    "rule_id": rule.rule_id,
                    "class": rule.label,
                    "pattern": rule.pattern,
                    "hits": hits,
                    "coverage": hits / self.messages if self.messages else 0.0,
                    "overlap": self.overlaps[i] / hits if hits else 0.0,
                    "conflict": self.conflicts[i] / hits if hits else 0.0,
                    "precision": self.correct[i] / self.judged[i] if judged_here else None,
                    **_mostly_other_class(hits, others.get((basis, i), []), basis),
                    "examples": self.examples.get(i, []),
                }
            )
        return rows

    def class_rows(self) -> list[dict]:
        """Per class: messages labelled by the rules and, against the truth, precision and recall."""
        rows = []
        for label in sorted({rule.label for rule in self.rules} | self.truth_classes):
            counts = self.class_counts.get(label, Counter())
            rule_count = sum(rule.label == label for rule in self.rules)
            # Precision and recall of a class's rules need rules and a truth that knows the class.
            evaluated = label in self.truth_classes and rule_count > 0
            predicted, true, tp = counts["predicted"], counts["true"], counts["true_positive"]
            rows.append(
                {
                    "class": label,
                    "rules": rule_count,
                    "labelled": predicted,
                    "coverage": predicted / self.messages if self.messages else 0.0,
                    "truth_positives": true if label in self.truth_classes else None,
                    "precision": (tp / predicted if predicted else None) if evaluated else None,
                    "recall": (tp / true if true else None) if evaluated else None,
                }
            )
        return rows


def _mostly_other_class(hits: int, others: list[tuple[int, str]], basis: str) -> dict:
    """The other class more than half of a rule's `hits` belong to, from (count, class) pairs,
    or Nones: a rule flagged as working for another class."""
    count, name = min(others, key=lambda pair: (-pair[0], pair[1]), default=(0, None))
    if not hits or 2 * count <= hits:
        return {"mostly_other_class": None, "other_class_share": None, "judged_by": None}
    return {"mostly_other_class": name, "other_class_share": count / hits, "judged_by": basis}


LABELS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("labels", pa.list_(pa.string()), nullable=False),  # training labels (rules or column)
        pa.field("truth", pa.list_(pa.string())),  # the label column parsed, NULL when there is none
        pa.field("rule_hits", pa.list_(pa.int32()), nullable=False),  # indices into the rule list
    ]
)


def label_chunk(
    ids: "Sequence[str] | pa.Array",
    rule_texts: "Sequence[str | bytes] | pa.Array",
    label_cells: Sequence[str | None] | None,
    *,
    matcher: "RuleMatcher | HyperscanMatcher",
    source: str,
    separator: str,
) -> pa.Table:
    """Label one chunk: rule hits always (for the rule report), training labels from `source`.

    `source` is "rules" (classes of the rules that hit) or "column" (the parsed `label_cells`).
    Raises LabelColumnError naming the message id for an unreadable label cell.
    """
    if source not in ("rules", "column"):
        raise ValueError(f"label source must be 'rules' or 'column', got {source!r}")
    if source == "column" and label_cells is None:
        raise LabelColumnError("[labelling] source = column needs [source] label_column to be set")
    if hasattr(matcher, "match_csr"):
        indptr, indices = matcher.match_csr(rule_texts)
    else:
        indptr, indices = hits_to_csr(matcher.match_many(rule_texts))
    # Arrow list columns from flat arrays and offsets: converting lists of lists cost as much as
    # the matching itself.
    rule_hits = pa.ListArray.from_arrays(pa.array(indptr, pa.int32()), pa.array(indices, pa.int32()))
    truth = None
    if label_cells is not None:
        truth = []
        parsed: dict = {}  # label columns hold few distinct cells: parse each once
        id_values = ids.to_pylist() if isinstance(ids, (pa.Array, pa.ChunkedArray)) else ids
        for message_id, cell in zip(id_values, label_cells):
            if cell not in parsed:
                try:
                    parsed[cell] = parse_label_cell(cell, separator)
                except LabelColumnError as exc:
                    raise LabelColumnError(f"message id {message_id!r}: {exc}") from None
            truth.append(parsed[cell])
    if source == "rules":
        labels = class_lists(indptr, indices, matcher.rules)
    else:
        labels = pa.array(truth, pa.list_(pa.string()))
    truth_column = pa.array(truth if truth is not None else [None] * len(ids), pa.list_(pa.string()))
    id_column = ids if isinstance(ids, (pa.Array, pa.ChunkedArray)) else pa.array(ids, pa.string())
    return pa.table({"id": id_column, "labels": labels, "truth": truth_column, "rule_hits": rule_hits}, schema=LABELS_SCHEMA)


def hits_to_csr(hits: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, rule indices) of per-message hit lists, each message's indices sorted."""
    lengths = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
    indptr = np.concatenate(([0], np.cumsum(lengths)))
    indices = np.fromiter((i for h in hits for i in sorted(h)), dtype=np.int64, count=int(indptr[-1]))
    return indptr, indices


def class_lists(indptr: np.ndarray, indices: np.ndarray, rules: Sequence[Rule]) -> pa.ListArray:
    """Per message the sorted distinct classes of the rules that hit it, as an Arrow list column."""
    classes = sorted({rule.label for rule in rules})
    class_of_rule = np.array([classes.index(rule.label) for rule in rules], dtype=np.int64)
    owners = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    pairs = _sorted_unique(owners * len(classes) + class_of_rule[indices])
    offsets = np.searchsorted(pairs // len(classes), np.arange(len(indptr)))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(classes).take(pa.array(pairs % len(classes))))
