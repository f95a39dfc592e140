"""Regex rules (sortbox.rules, sortbox.rule_engines, sortbox.label): loading, matching like Python re, labels
from a column, statistics."""

import re
import subprocess
import sys

import pytest

from sortbox import rules
from sortbox.label import LabelColumnError, RuleStats, class_lists, hits_to_csr, label_chunk, parse_label_cell
from sortbox.rule_engines import HyperscanMatcher, RuleMatcher, match_with_re
from sortbox.rules import Rule, RuleError, load_rules, read_rule_files, rules_fingerprint
from tests.conftest import REPO_ROOT


@pytest.fixture
def rules_dir(tmp_path):
    (tmp_path / "spam.txt").write_text("# prizes\n\\bwin\\b\n\n£\\d+\n(?<=call )\\d{5}\n", encoding="utf-8")
    (tmp_path / "personal.txt").write_text("\\blove you\\b\n\\bhey\\b\n", encoding="utf-8")
    return tmp_path


TEXTS = ["WIN £100 now, call 87121", "hey, love you", "nothing here", "Hey! WIN big"]


def test_load_rules_ids_are_file_and_line(rules_dir):
    rules = load_rules(rules_dir)
    assert [(r.rule_id, r.label) for r in rules] == [
        ("personal.txt:1", "personal"),
        ("personal.txt:2", "personal"),
        ("spam.txt:2", "spam"),
        ("spam.txt:4", "spam"),
        ("spam.txt:5", "spam"),
    ]


@pytest.mark.parametrize(
    "files, message",
    [
        ({"spam.txt": "ok\n(unclosed\n"}, r"spam\.txt:2: missing \), unterminated subpattern"),
        ({"spam.txt": "# only comments\n\n"}, "no rules found"),
        ({"bad name.txt": "x\n"}, "class name 'bad name' must be"),
        ({"spam.txt": "*oops\n"}, r"spam\.txt:1: nothing to repeat"),
        # Python re raises these outside re.error: still one RuleError naming file:line.
        (
            {"spam.txt": "ok\n(?u)win\n"},
            r"spam\.txt:2: ASCII and UNICODE flags are incompatible: "
            r"rules are matched with re.ASCII, remove the \(\?u\) flag",
        ),
        ({"spam.txt": "a{4294967296}\n"}, r"spam\.txt:1: the repetition number is too large"),
        ({"spam.txt": "(" * 5000 + "a" + ")" * 5000 + "\n"}, r"spam\.txt:1: groups nested too deeply for Python re"),
    ],
)
def test_bad_rule_files(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(RuleError, match=message):
        load_rules(tmp_path)


def test_missing_rules_dir(tmp_path):
    with pytest.raises(RuleError, match="rules directory does not exist"):
        load_rules(tmp_path / "nope")


ENGINES = [RuleMatcher, HyperscanMatcher]


@pytest.mark.parametrize("engine", ENGINES)
def test_matcher_agrees_with_re_and_falls_back_only_where_needed(rules_dir, engine):
    rules = load_rules(rules_dir)
    matcher = engine(rules)
    assert matcher.fallback_rule_ids == ["spam.txt:5"]  # lookbehind: neither engine compiles it
    got = [sorted(h) for h in matcher.match_many(TEXTS)]
    assert got == match_with_re(rules, TEXTS)
    assert got == [[2, 3, 4], [0, 1], [], [1, 2]]
    assert [sorted(h) for h in matcher.match_many([t.encode() for t in TEXTS])] == got


@pytest.mark.parametrize("engine", ENGINES)
def test_non_ascii_letters_use_python_re_semantics(engine):
    rules = [Rule("x.txt:1", "x", "café"), Rule("x.txt:2", "x", "£")]
    matcher = engine(rules)
    assert matcher.fallback_rule_ids == ["x.txt:1"]  # re.ASCII does not case-fold é; RE2 would
    texts = ["CAFÉ", "café £", "CAFé"]
    assert [sorted(h) for h in matcher.match_many(texts)] == match_with_re(rules, texts) == [[], [0, 1], [0]]


def test_class_lists(rules_dir):
    rules = load_rules(rules_dir)
    indptr, indices = hits_to_csr([[3, 2], [0, 1, 2], []])
    assert class_lists(indptr, indices, rules).to_pylist() == [["spam"], ["personal", "spam"], []]


@pytest.mark.parametrize(
    "cell, separator, expected",
    [
        ("spam", "|", ["spam"]),
        ("spam|personal", "|", ["personal", "spam"]),
        (" spam ; spam ", ";", ["spam"]),
        (None, "|", []),
        ("", "|", []),
    ],
)
def test_parse_label_cell(cell, separator, expected):
    assert parse_label_cell(cell, separator) == expected


@pytest.mark.parametrize("cell", ["spam,personal", "spam/personal", "spam personal"])
def test_unknown_separator_is_a_clear_error(cell):
    with pytest.raises(LabelColumnError, match=r"is \[source\] label_separator = '\|' the separator"):
        parse_label_cell(cell, "|")


def test_label_chunk_from_rules_and_from_column(rules_dir):
    matcher = RuleMatcher(load_rules(rules_dir))
    ids, cells = ["1", "2", "3"], ["spam", "ham", None]
    by_rules = label_chunk(ids, TEXTS[:3], cells, matcher=matcher, source="rules", separator="|")
    by_column = label_chunk(ids, TEXTS[:3], cells, matcher=matcher, source="column", separator="|")
    assert by_rules.column("labels").to_pylist() == [["spam"], ["personal"], []]
    assert by_column.column("labels").to_pylist() == [["spam"], ["ham"], []]
    assert by_rules.column("truth").to_pylist() == by_column.column("truth").to_pylist() == [["spam"], ["ham"], []]
    with pytest.raises(LabelColumnError, match="message id '2'"):
        label_chunk(ids, TEXTS[:3], ["spam", "a,b", None], matcher=matcher, source="column", separator="|")
    with pytest.raises(LabelColumnError, match="needs \\[source\\] label_column"):
        label_chunk(ids, TEXTS[:3], None, matcher=matcher, source="column", separator="|")


def test_rule_stats(rules_dir):
    rules = load_rules(rules_dir)
    stats = RuleStats(rules, examples_per_rule=1)
    hits = [sorted(h) for h in RuleMatcher(rules).match_many(TEXTS)]
    stats.update(["a", "b", "c", "d"], TEXTS, hits, [["spam"], ["ham"], ["ham"], ["spam"]])
    rows = {r["rule_id"]: r for r in stats.rule_rows()}
    assert rows["spam.txt:2"]["hits"] == 2 and rows["spam.txt:2"]["precision"] == 1.0
    assert rows["spam.txt:2"]["coverage"] == 0.5
    assert rows["personal.txt:2"]["conflict"] == 0.5  # "Hey! WIN big": personal and spam both fire
    assert rows["personal.txt:1"]["precision"] is None  # the truth knows no "personal"
    assert rows["spam.txt:2"]["examples"] == [{"id": "a", "text": TEXTS[0]}]
    classes = {c["class"]: c for c in stats.class_rows()}
    assert (classes["spam"]["precision"], classes["spam"]["recall"]) == (1.0, 1.0)
    assert classes["ham"]["precision"] is None and classes["ham"]["truth_positives"] == 2


def test_fingerprint_changes_with_any_rule(rules_dir):
    before = rules_fingerprint(rules_dir)
    (rules_dir / "spam.txt").write_text((rules_dir / "spam.txt").read_text() + "\\bprize\\b\n")
    assert rules_fingerprint(rules_dir) != before


@pytest.mark.parametrize("engine", ENGINES)
def test_shipped_rules_match_like_re_on_the_sample(engine, sms_pairs):
    from sortbox.textnorm import TextCleaner, default_cleaning_spec, rule_view
    from tests.conftest import REPO_ROOT

    rules = load_rules(REPO_ROOT / "dictionaries" / "labels")
    assert len(rules) >= 250  # a few hundred (264 since the notification rules were rewritten for #17)
    cleaner = TextCleaner(default_cleaning_spec())
    texts = [rule_view(cleaner.map(text)) for _, text in sms_pairs]
    assert [sorted(h) for h in engine(rules).match_many(texts)] == match_with_re(rules, texts)


@pytest.mark.parametrize(
    "pattern, texts",
    [
        (r"call\s+now", ["call", "now please"]),  # \s could span the newline joining two messages
        (r"free[^a-z]+prize", ["free", "prize"]),  # a negated class too
        (r"\W{2}", ["a!", "b"]),
        (r"^hi", ["oh", "hi there"]),  # ^ is each message's start, not the chunk's
        (r"bye$", ["bye now", "ok bye"]),
        (r"x*", ["a", ""]),  # matches an empty string: everywhere
        (r"\Aok", ["ok", "not ok"]),
    ],
)
def test_hyperscan_chunk_scan_never_attributes_across_messages(pattern, texts):
    rules = [Rule("t.txt:1", "t", pattern)]
    assert [sorted(h) for h in HyperscanMatcher(rules).match_many(texts)] == match_with_re(rules, texts)


@pytest.mark.parametrize("engine", ENGINES)
def test_label_chunk_reads_arrow_arrays(rules_dir, engine):
    import pyarrow as pa

    matcher = engine(load_rules(rules_dir))
    from_arrow = label_chunk(["1", "2", "3"], pa.array(TEXTS[:3]), None, matcher=matcher, source="rules", separator="|")
    from_list = label_chunk(["1", "2", "3"], TEXTS[:3], None, matcher=matcher, source="rules", separator="|")
    assert from_arrow.equals(from_list)
    assert from_arrow.column("labels").to_pylist() == [["spam"], ["personal"], []]


@pytest.mark.parametrize(
    "pattern, refused",
    [
        (r"(\w+\s?)*\1$", True),  # backreference: Python re only, nested repetition: refused
        (r"(?<=win )(?:\w+\d*)+ now", True),  # lookbehind: Python re only, nested repetition
        (r"(?<=win )(?:\w+)++ now", False),  # possessive inner repetition never backtracks
        (r"(\w)\1\1", False),  # backreference, nothing nested
        (r"(a+)+$", False),  # nested, but RE2 compiles it: matched in linear time
    ],
)
def test_catastrophic_backtracking_rules_are_refused_with_file_and_line(tmp_path, pattern, refused):
    (tmp_path / "spam.txt").write_text(f"# header\nfree\n{pattern}\n")
    if refused:
        with pytest.raises(RuleError, match=r"spam\.txt:3: nested unbounded repetition"):
            load_rules(tmp_path)
    else:
        assert [r.pattern for r in load_rules(tmp_path)] == ["free", pattern]


def test_a_nested_rule_the_linear_engines_take_cannot_hang_on_a_hostile_message(tmp_path):
    # (a+)+$ against 'aaa…a!' takes exponential time in Python's re; RE2 and Hyperscan are linear.
    # Run in a subprocess with a timeout, so a regression fails instead of hanging the suite.
    script = (
        "from sortbox.rule_engines import RuleMatcher, best_matcher\nfrom sortbox.rules import Rule\n"
        "rules = [Rule('x.txt:1', 'x', '(a+)+$')]\n"
        "text = 'a' * 5000 + '!'\n"
        "assert RuleMatcher(rules).match(text) == []\n"
        "assert best_matcher(rules).match_many([text]) == [[]]\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def reference_stats(rules, chunks, examples_per_rule=2):
    """The per-message loop RuleStats.update replaced, kept as the reference for its numpy counting."""
    from collections import Counter

    labels = [rule.label for rule in rules]
    out = {
        "messages": 0,
        "hits": Counter(),
        "overlaps": Counter(),
        "conflicts": Counter(),
        "judged": Counter(),
        "correct": Counter(),
        "examples": {},
        "classes": {},
        "truth": set(),
        "other_by_rules": Counter(),
        "other_by_truth": Counter(),
    }
    for ids, texts, hits, truth in chunks:
        out["messages"] += len(hits)
        for row, rule_hits in enumerate(hits):
            true = set(truth[row]) if truth is not None else None
            if true is not None:
                out["truth"].update(true)
            predicted = {labels[i] for i in rule_hits}
            for label in predicted | (true or set()):
                counts = out["classes"].setdefault(label, Counter())
                counts["predicted"] += label in predicted
                if true is not None:
                    counts["true"] += label in true
                    counts["true_positive"] += label in predicted and label in true
            for i in rule_hits:
                out["hits"][i] += 1
                out["overlaps"][i] += len(rule_hits) > 1
                out["conflicts"][i] += len(predicted) > 1
                if true is not None:
                    out["judged"][i] += 1
                    out["correct"][i] += labels[i] in true
                    for label in true - {labels[i]} if labels[i] not in true else ():
                        out["other_by_truth"][(i, label)] += 1
                for label in predicted - {labels[i]}:
                    out["other_by_rules"][(i, label)] += 1
                examples = out["examples"].setdefault(i, [])
                if len(examples) < examples_per_rule:
                    examples.append({"id": ids[row], "text": texts[row][:200]})
    return out


@pytest.mark.parametrize("with_truth", [True, False])
def test_rule_stats_count_like_the_per_message_loop(with_truth):
    import random

    import pyarrow as pa

    rng = random.Random(4)
    rules = [Rule(f"{c}.txt:{i}", c, f"w{i}") for i, c in enumerate(["spam", "spam", "ham", "promo", "promo", "spam"])]
    chunks = []
    for chunk in range(3):
        n = 40
        ids = [f"{chunk}-{r}" for r in range(n)]
        texts = [f"text {chunk} {r}" for r in range(n)]
        hits = [sorted(rng.sample(range(len(rules)), rng.choice([0, 0, 1, 1, 2, 3]))) for _ in range(n)]
        truth = (
            [rng.sample(["spam", "ham", "other"], rng.choice([0, 1, 1, 2])) for _ in range(n)] if with_truth else None
        )
        chunks.append((ids, texts, hits, truth))
    stats = RuleStats(rules, examples_per_rule=2)
    for ids, texts, hits, truth in chunks:  # lists for the first chunk, Arrow columns for the others
        if ids[0].startswith("0"):
            stats.update(ids, texts, hits, truth)
        else:
            stats.update(
                ids,
                pa.array(texts),
                pa.array(hits, type=pa.list_(pa.int32())),
                None if truth is None else pa.array(truth, type=pa.list_(pa.string())),
            )
    expected = reference_stats(rules, chunks)
    assert stats.messages == expected["messages"] and stats.truth_classes == expected["truth"]
    for name in ("hits", "overlaps", "conflicts", "judged", "correct", "other_by_rules", "other_by_truth"):
        assert +getattr(stats, name) == +expected[name], name
    assert {k: v for k, v in stats.examples.items()} == expected["examples"]
    assert {k: +v for k, v in stats.class_counts.items()} == {k: +v for k, v in expected["classes"].items()}


def test_examples_of_a_rule_with_few_hits_are_its_own():
    # Each rule hits one message per chunk: the examples of a rule must not run on into the next
    # rule's hits (they did: a rule with fewer than 3 hits showed another rule's messages).
    rules = [Rule(f"c.txt:{i}", "c", f"w{i}") for i in range(3)]
    stats = RuleStats(rules, examples_per_rule=3)
    stats.update(["a", "b", "c"], ["w0", "w1", "w2"], [[0], [1], [2]], None)
    stats.update(["d", "e"], ["w2", "w0"], [[2], [0]], None)
    assert {i: [e["id"] for e in examples] for i, examples in stats.examples.items()} == {
        0: ["a", "e"],
        1: ["b"],
        2: ["c", "d"],
    }


@pytest.mark.parametrize(
    "truth, expected",
    [
        # No truth: by the other classes' rules. ham.txt:1 hits a, b, c, spam rules label a and b;
        # spam.txt:2 hits a, b, d, e, the ham rule labels half of them: not more than half.
        (None, {"ham.txt:1": ("spam", 2 / 3, "rules"), "spam.txt:1": ("ham", 1.0, "rules"), "spam.txt:2": None}),
        # The truth knows both classes: it decides.
        (
            [["ham"], ["ham"], ["ham"], ["spam"], ["ham"]],
            {"ham.txt:1": None, "spam.txt:1": ("ham", 1.0, "truth"), "spam.txt:2": ("ham", 3 / 4, "truth")},
        ),
    ],
)
def test_rules_whose_hits_mostly_belong_to_another_class_are_flagged(truth, expected):
    rules = [Rule("ham.txt:1", "ham", "h"), Rule("spam.txt:1", "spam", "s1"), Rule("spam.txt:2", "spam", "s2")]
    stats = RuleStats(rules)
    stats.update(["a", "b", "c", "d", "e"], [""] * 5, [[0, 1, 2], [0, 1, 2], [0], [2], [2]], truth)
    for row in stats.rule_rows():
        flagged = expected[row["rule_id"]]
        got = (
            None
            if row["mostly_other_class"] is None
            else (row["mostly_other_class"], row["other_class_share"], row["judged_by"])
        )
        assert got == flagged, row["rule_id"]


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "free\n".encode("utf-16"),
            r"spam\.txt: the file is UTF-16 \(it starts with a UTF-16 byte order mark\); save it as UTF-8",
        ),
        ("free\n".encode("utf-32"), r"spam\.txt: the file is UTF-32"),
        # UTF-16 without a byte order mark: NULs, which Hyperscan would read as the pattern's end
        # ("f" alone: most messages labelled spam, exit 0).
        (
            "# prizes\nfree\n".encode("utf-16-le"),
            r"spam\.txt:1: NUL byte \(U\+0000\): not UTF-8 text \(UTF-16 saved without a byte order mark\?\)",
        ),
        ("ok\n£5\n".encode("latin-1"), r"spam\.txt:2: not UTF-8 text \(byte 0xa3\); save the file as UTF-8"),
        (b"ok\nfr\x00ee\n", r"spam\.txt:2: NUL byte"),
        (b"ok\n# a comment with a \x00\n", r"spam\.txt:2: NUL byte"),
        (b"ok\nfr\x01ee\n", r"spam\.txt:2: control character \(U\+0001\) in the rule"),
        (b"ok\nfree\tprize\n", r"spam\.txt:2: control character \(U\+0009\) in the rule: rule texts never contain"),
        (b"ok\nfree\rprize\n", r"spam\.txt:2: control character \(U\+000D\)"),
        ("ok\nfree\u200bprize\n".encode(), r"spam\.txt:2: ZERO WIDTH SPACE \(U\+200B\) in the rule"),
        ("ok\nfree\u00a0prize\n".encode(), r"spam\.txt:2: NO-BREAK SPACE \(U\+00A0\) in the rule"),
        ("ok\nfree\u2028prize\n".encode(), r"spam\.txt:2: LINE SEPARATOR \(U\+2028\)"),
        ("ok\nwin\x85\n".encode(), r"spam\.txt:2: control character \(U\+0085\)"),
        # A form feed is a line break for str.splitlines, not for an editor: the rule id stays line 3.
        (b"ok\n\x0c\nfr\x0cee\n", r"spam\.txt:3: control character \(U\+000C\)"),
    ],
)
def test_rule_files_are_strict_utf8_text_without_control_characters(tmp_path, content, message):
    (tmp_path / "spam.txt").write_bytes(content)
    with pytest.raises(RuleError, match=message):
        load_rules(tmp_path)


def test_rule_file_byte_order_mark_and_crlf_are_accepted(tmp_path):
    (tmp_path / "spam.txt").write_bytes(b"\xef\xbb\xbf\\bfree\\b\r\n# comment\r\n\\bwin\\b\r\n")
    assert [(r.rule_id, r.pattern) for r in load_rules(tmp_path)] == [
        ("spam.txt:1", "\\bfree\\b"),
        ("spam.txt:3", "\\bwin\\b"),
    ]


@pytest.mark.parametrize(
    "name",
    [
        "spam\n.txt",
        "spam\r.txt",
        "-spam.txt",
        "=spam.txt",
        "sp am.txt",
        "café.txt",
        "a" * 65 + ".txt",
        "spam.x.txt",
        "_x.txt",
    ],
)
def test_class_names_have_one_plain_form(tmp_path, name):
    (tmp_path / "ok.txt").write_text("free\n")
    (tmp_path / name).write_text("win\n")
    with pytest.raises(
        RuleError,
        match=r"class name .* must be 1-64 ASCII letters, digits, '_' or '-', starting with a letter or digit",
    ) as caught:
        load_rules(tmp_path)
    assert "\n" not in str(caught.value) and "\r" not in str(caught.value)


@pytest.mark.parametrize("cell", ["-spam", "spam\nham", "a" * 65, "spamé"])
def test_label_cells_use_the_same_class_name_form(cell):
    with pytest.raises(LabelColumnError, match="is not a class name"):
        parse_label_cell(cell if "\n" not in cell else cell.replace("\n", "\x0b"), "|")


def test_non_rule_files_are_listed_and_empty_classes_reported(tmp_path):
    (tmp_path / "spam.txt").write_text("free\n")
    (tmp_path / "promo.txt").write_text("# to do\n\n")
    (tmp_path / "empty.txt").write_text("")
    for other in ("README.md", "spam.txt~", ".spam.txt.swp", "ham.TXT", ".hidden.txt"):
        (tmp_path / other).write_text("win\n")
    (tmp_path / "old.txt").mkdir()
    files = read_rule_files(tmp_path)
    assert [r.rule_id for r in files.rules] == ["spam.txt:1"]
    assert files.empty_classes == {
        "empty": "no rules: empty.txt is empty or holds only comments",
        "promo": "no rules: promo.txt is empty or holds only comments",
    }
    assert files.ignored == [".hidden.txt", ".spam.txt.swp", "README.md", "ham.TXT", "old.txt", "spam.txt~"]
    before = rules_fingerprint(tmp_path)
    (tmp_path / "README.md").write_text("changed\n")  # not a rule file: no rerun
    assert rules_fingerprint(tmp_path) == before


def test_more_rules_than_the_matcher_can_index_stop_the_run_while_scheduling(tmp_path, monkeypatch):
    # 65,535 is the real limit (a rule index in 16 bits); a small one keeps the test fast.
    monkeypatch.setattr(rules, "MAX_RULES", 3)
    (tmp_path / "ham.txt").write_text("hello\nlunch\n")
    (tmp_path / "spam.txt").write_text("free\n# a comment\nwin\n")
    message = rf"spam\.txt:3: more than the 3 rules one run can match \(all files of {tmp_path} together\)"
    with pytest.raises(RuleError, match=message):
        load_rules(tmp_path)


@pytest.mark.parametrize("target", ["../shared/spam.txt", "spam.txt"])  # missing, a loop
def test_a_rule_file_that_is_a_broken_symbolic_link_is_an_error_not_an_ignored_file(tmp_path, target):
    (tmp_path / "ham.txt").write_text("hello\n")
    (tmp_path / "spam.txt").symlink_to(target)
    message = (
        rf"spam\.txt: a symbolic link to '{re.escape(target)}', which leads to no file: the rule file cannot be read"
    )
    with pytest.raises(RuleError, match=message):
        load_rules(tmp_path)
    (tmp_path / "spam.txt").unlink()
    (tmp_path / "shared.txt").symlink_to(tmp_path / "ham.txt")  # a link that works is read
    assert [r.rule_id for r in load_rules(tmp_path)] == ["ham.txt:1", "shared.txt:1"]
