"""What the portable scorer reads (messages CSV) and what scoring writes (scores.csv, unscorable.csv):
any id round-trips, spreadsheet escaping is undone exactly, bad input is one line and exit 2."""
import csv
import io

import pytest

from sortbox.export import model_json_bytes
from sortbox.portable_scorer import CsvWriter, csv_safe, csv_unescape, main
from tests.unit.test_export_scoring import tiny_model

#: Ids that break naive CSV handling or that a spreadsheet would run.
HOSTILE_IDS = [
    "a\rb",
    "\r",
    "a\nb",
    "\r\n",
    "line\r\nbreak",
    'q"u"o"te',
    '"',
    "a,b",
    ",",
    "=cmd|' /c calc'!A1",
    "+1+1",
    "-x",
    "-5",
    "@SUM(A1)",
    "\tx",
    "'=x",
    "'",
    "''",
    "'-5",
    " lead",
    "x" * 10_000,
    "é\u2028\x85",
    "plain",
]


@pytest.mark.parametrize("value", HOSTILE_IDS + ["=x", "", "''=x"])
def test_spreadsheet_escaping_is_undone_exactly(value):
    assert csv_unescape(csv_safe(value)) == value


@pytest.mark.parametrize("first, second", [("=x", "'=x"), ("'=x", "''=x"), ("-5", "'-5"), ("'", "''"), ("@a", "'@a")])
def test_different_ids_stay_different_cells(first, second):
    assert csv_safe(first) != csv_safe(second)
    assert csv_safe("=x") == "'=x" and csv_safe("'=x") == "''=x" and csv_safe("-5") == "-5"


@pytest.mark.parametrize(
    "value, written",
    [("-5", "-5"), ("+1.5e3", "+1.5e3"), ("-x", "'-x"), ("=1", "'=1"),
     ("+\u0663", "'+\u0663"), ("-\uff11", "'-\uff11")],  # other digits than 0-9 are no number to a spreadsheet
)
def test_a_formula_start_is_escaped_unless_the_cell_is_a_number(value, written):
    assert csv_safe(value) == written


def read_back(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_writer_quotes_a_bare_carriage_return():
    out = io.StringIO(newline="")
    writer = CsvWriter(out)
    writer.writerows([("a\rb", "0.5", "1"), ("plain", "0.25", "0")])
    writer.writerow(["\r", "x"])
    assert read_back(out.getvalue()) == [["a\rb", "0.5", "1"], ["plain", "0.25", "0"], ["\r", "x"]]
    plain = io.StringIO(newline="")
    CsvWriter(plain).writerows([("a", "1"), ("b,c", "2")])
    assert plain.getvalue() == 'a,1\n"b,c",2\n'  # rows without CR: exactly csv.writer's bytes


def write_messages_csv(path, rows, *, bom=False):
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows([("id", "text"), *rows])


def texts_for(ids):
    """Scorable, no known term, quarantined in turn."""
    return [(i, ["free prize call", "zzz unknown", ""][n % 3]) for n, i in enumerate(ids)]


def test_any_id_round_trips_through_the_portable_scorer(tmp_path, capsys):
    model = tmp_path / "model.json"
    model.write_bytes(model_json_bytes(tiny_model()))
    messages = tmp_path / "messages.csv"
    write_messages_csv(messages, texts_for(HOSTILE_IDS), bom=True)  # a BOM before the header is accepted
    assert main([str(model), str(messages), "--unscorable", str(tmp_path / "bad.csv")]) == 0
    scored = read_back(capsys.readouterr().out)
    unscorable = read_back((tmp_path / "bad.csv").read_bytes().decode("utf-8"))  # no newline translation
    assert scored[0] == ["id", "spam_score", "spam_decision"] and unscorable[0] == ["id", "reason"]
    assert all(len(row) == 3 for row in scored) and all(len(row) == 2 for row in unscorable)
    assert [csv_unescape(row[0]) for row in scored[1:]] == HOSTILE_IDS[0::3]
    assert sorted(csv_unescape(row[0]) for row in unscorable[1:]) == sorted(HOSTILE_IDS[1::3] + HOSTILE_IDS[2::3])


@pytest.mark.parametrize(
    "content, code, message, unscorable",
    [
        ("id,text\n1,free\n,free prize\n", 2, "messages.csv line 3: no id (every row needs one)", None),
        (
            "id,text\n1,free\n2\n\n3,free\n",
            0,
            "2 scored, 1 unscorable",
            ["2,quarantined:null_text"],
        ),  # no text cell: not an error
        (
            'id,text\n1,free\n"2,free\n3,free\n',
            2,
            "messages.csv: not valid CSV after line 2 (unexpected end of data)",
            None,
        ),
        ('id,text\n1,"free"prize\n', 2, "messages.csv: not valid CSV after line 1 (',' expected after '\"')", None),
        ("id,body\n1,x\n", 2, "messages.csv: needs a header with columns id,text", None),
        # An unquoted comma in a text: the text would be cut at it and scored, exit 0.
        (
            "id,text\n1,free\n2,free, win a prize\n",
            2,
            "messages.csv line 3: 3 cells, the header has 2 (a text holding a comma must be quoted)",
            None,
        ),
        ("id,text,lang\n1,free,en\n2,free,en,x\n", 2, "messages.csv line 3: 4 cells, the header has 3", None),
        (
            "id,text,lang\n1,free,en\n2,free\n",
            0,
            "2 scored, 0 unscorable",
            [],
        ),  # extra columns, and a row without them, are fine
        ("id,text,id\n1,free,2\n", 2, "messages.csv: the header has 2 columns named 'id', must have one", None),
        ("text,id,text\nfree,1,prize\n", 2, "messages.csv: the header has 2 columns named 'text', must have one", None),
        (b"id,text\n1,caf\xe9\n", 2, "messages.csv: not UTF-8", None),
        # 200,000 characters: over the csv module's field limit, and over the model's max_chars
        (
            "id,text\n1,free\n2," + "free " * 40_000 + "\n3,love\n",
            0,
            "2 scored, 1 unscorable",
            ["2,quarantined:too_long"],
        ),
        (None, 2, "messages.csv: No such file or directory", None),
    ],
)
def test_messages_csv_problems(tmp_path, capsys, content, code, message, unscorable):
    model = tmp_path / "model.json"
    model.write_bytes(model_json_bytes(tiny_model(max_chars=1000)))
    messages = tmp_path / "messages.csv"
    if isinstance(content, bytes):
        messages.write_bytes(content)
    elif content is not None:
        messages.write_text(content, encoding="utf-8")
    assert main([str(model), str(messages), "--unscorable", str(tmp_path / "bad.csv")]) == code
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1, err
    if unscorable is not None:
        assert (tmp_path / "bad.csv").read_text().splitlines() == ["id,reason", *unscorable]
    assert csv.field_size_limit() == 131072  # the raised limit is put back


@pytest.mark.parametrize("target", ["messages", "model"])
def test_unscorable_output_that_is_an_input_file_is_refused_and_the_input_kept(tmp_path, capsys, target):
    files = {"model": tmp_path / "model.json", "messages": tmp_path / "messages.csv"}
    files["model"].write_bytes(model_json_bytes(tiny_model()))
    files["messages"].write_text("id,text\n1,free prize\n", encoding="utf-8")
    before = {role: path.read_bytes() for role, path in files.items()}
    assert main([str(files["model"]), str(files["messages"]), "--unscorable", str(files[target])]) == 2
    assert (
        capsys.readouterr().err
        == f"portable_scorer: --unscorable {files[target]}: that is the {target} file, writing there would destroy it\n"
    )
    assert {role: path.read_bytes() for role, path in files.items()} == before
