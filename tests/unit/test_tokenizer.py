"""Tokenisation (sortbox.tokenizer): terms, stopwords, stem cache, vocabulary."""
import pyarrow as pa
import pytest

from sortbox.tokenizer import TermTally, Tokenizer, tokenize_chunk
from sortbox.wordlists import StopwordsError, load_stopwords

STOPWORDS = frozenset({"the", "you", "to", "a", "don't"})


def test_terms_stopwords_and_stems():
    tally = TermTally()
    terms = Tokenizer(STOPWORDS).tokenize(["you have won the prizes!", "don't call £0000 winning", ""], tally)
    assert terms == [["have", "won", "prize"], ["call", "£", "0000", "win"], []]
    assert tally.forms["prizes"] == "prize" and tally.forms["winning"] == "win" and "the" not in tally.forms


def test_without_stemming():
    assert Tokenizer(STOPWORDS, stem=False).tokenize(["winning prizes"]) == [["winning", "prizes"]]


def test_vocabulary_and_surface_forms():
    tally = TermTally()
    Tokenizer(STOPWORDS).tokenize(["win wins winning", "prize", "win"], tally)
    assert tally.vocabulary(2) == {"win": 4}
    assert tally.surface_forms(tally.vocabulary(2)) == {"win": "win", "winning": "win", "wins": "win"}


@pytest.mark.parametrize("method", ["tokenize", "tokenize_arrow"])
def test_a_tokenizer_learns_nothing_from_what_it_tokenised_before(method):
    """fit/transform: earlier texts neither change the terms of later ones nor leak into a new tally."""
    def run(tokenizer, texts, tally=None):
        found = getattr(tokenizer, method)(texts if method == "tokenize" else pa.array(texts, pa.string()), tally)
        return found if method == "tokenize" else found.to_pylist()

    used = Tokenizer(STOPWORDS)
    run(used, ["winning prizes", "café wins"], TermTally())
    later, fresh = TermTally(), TermTally()
    texts = ["winning again", "café", "prizes"]
    assert run(used, texts, later) == run(Tokenizer(STOPWORDS), texts, fresh)
    assert later == fresh and later.forms == {"again": "again", "café": "café", "prizes": "prize", "winning": "win"}


def test_chunk_boundaries_never_merge_messages():
    tokenizer = Tokenizer(STOPWORDS)
    assert tokenizer.tokenize(["a", "b c", "the"]) == [[], ["b", "c"], []]


def test_uncleaned_text_is_refused():
    with pytest.raises(ValueError, match="cleaned texts"):
        Tokenizer(STOPWORDS).tokenize(["two\nlines"])


def test_tokenize_chunk():
    table = tokenize_chunk(pa.table({"id": ["1", "2"], "text": ["free prize", "hello"]}), Tokenizer(STOPWORDS))
    assert table.to_pylist() == [{"id": "1", "terms": ["free", "prize"]}, {"id": "2", "terms": ["hello"]}]


def test_stopwords_file(tmp_path):
    (tmp_path / "english.txt").write_text("# header\nThe\n\nyou\n")
    assert load_stopwords(tmp_path, "english") == frozenset({"the", "you"})
    with pytest.raises(StopwordsError, match="no stopword list for language 'klingon' \\(available: english\\)"):
        load_stopwords(tmp_path, "klingon")


def test_shipped_english_stopwords():
    from tests.conftest import REPO_ROOT

    words = load_stopwords(REPO_ROOT / "dictionaries" / "stopwords", "english")
    assert {"the", "and", "don't", "you"} <= words and len(words) >= 150


ADVERSARIAL = [
    "'hello'",
    "don't",
    "rock'n'roll",
    "a''b",
    "'''",
    "x'",
    "'x",
    "it's'",
    "_under_score_",
    "0000'00",
    "",
    "'",
    "i'm $5 in",
    "café latte",
    "the you a",
    "£0000 prize",
    "x\u0301y",
]


@pytest.mark.parametrize(
    "texts", [ADVERSARIAL, ["plain words only", "no apostrophe here"], ["don't", "won't stop"], []]
)
def test_arrow_path_equals_the_python_path(texts):
    python, arrow = TermTally(), TermTally()
    expected = Tokenizer(STOPWORDS).tokenize(texts, python)
    assert Tokenizer(STOPWORDS).tokenize_arrow(pa.array(texts, pa.string()), arrow).to_pylist() == expected
    assert arrow == python


def test_arrow_path_on_the_sample(sms_pairs):
    from sortbox.textnorm import TextCleaner, default_cleaning_spec
    from tests.conftest import REPO_ROOT

    cleaner = TextCleaner(default_cleaning_spec())
    texts = [cleaner.clean(text) for _, text in sms_pairs]
    stopwords = load_stopwords(REPO_ROOT / "dictionaries" / "stopwords", "english")
    python, arrow = Tokenizer(stopwords), Tokenizer(stopwords)
    python_tally, arrow_tally = TermTally(), TermTally()
    expected = python.tokenize(texts[:3000], python_tally) + python.tokenize(texts[3000:], python_tally)
    got = (
        arrow.tokenize_arrow(pa.array(texts[:3000]), arrow_tally).to_pylist()
        + arrow.tokenize_arrow(pa.array(texts[3000:]), arrow_tally).to_pylist()
    )
    assert got == expected and arrow_tally == python_tally
