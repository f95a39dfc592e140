"""The vectorised scorer's fast path (numpy tokenising for the default pattern) against the
Python `re` path and the stdlib portable scorer, which defines what is correct."""
import numpy as np
import pytest

from sortbox.export import build_model
from sortbox.model_file import ModelFileError
from sortbox.portable_scorer import PortableModel, logistic
from sortbox.scoring import FAST_PATH_PATTERN, VectorModel, _WordTable
from sortbox.textnorm import default_cleaning_spec
from tests.unit.test_tokenizer import ADVERSARIAL as TOKENIZER_ADVERSARIAL

# Words the fast path must find exactly: inner apostrophes, underscores, digits, "$" (the only
# ASCII currency sign), non-ASCII words and signs, words of 8 / 9-16 / over 16 bytes (three
# different lookups).
VOCABULARY = [
    "hello",
    "don't",
    "rock'n'roll",
    "a",
    "b",
    "x",
    "it's",
    "_under_score_",
    "0000",
    "00",
    "4u",
    "$",
    "£",
    "ü'll",
    "café",
    "twelvebytes!",
    "abcdefgh",
    "abcdefghi",
    "congratulations",
    "supercalifragilistic",
    "free",
    "prize",
]
SURFACE_FORMS = {word: word for word in VOCABULARY if word != "twelvebytes!"} | {
    "prizes": "prize",
    "twelvebytesx": "abcdefghi",
}

# The tokenizer's hard cases, and those of the fast path's word table (bytes, lengths, non-ASCII).
ADVERSARIAL = [
    *TOKENIZER_ADVERSARIAL,
    "4u 2nite 0000",
    "$",
    "$$00",
    "a$b",
    "hello$",
    "£0000",
    "ü'll",
    "ü''ll",
    "'ü'll'",
    "café's",
    "x'ü",
    "free\u00a0prize",
    "abcdefgh",
    "abcdefghi",
    "abcdefgh'i",
    "congratulations!",
    "supercalifragilistic",
    "supercalifragilisticexpialidocious",
    "twelvebytesx",
    "a'b'c",
    "a' 'b",
    "_'_",
    "hello''",
    "''hello",
    "free-prize",
    "x\u0301hello",
    "\U0001f600free",
    "\ud800free",
    "the stopword a is not counted",
    "prizes prizes prize",
]


def make_model(token_pattern=FAST_PATH_PATTERN):
    rng = np.random.default_rng(7)
    idf = rng.uniform(0.5, 3.0, len(VOCABULARY))
    idf[VOCABULARY.index("b")] = 0.0  # idf 0: dropped, as gensim does
    return build_model(
        run_date="2026-11-23",
        cleaning_spec=default_cleaning_spec(),
        max_chars=500,
        quarantine_controls=True,
        token_pattern=token_pattern,
        stopwords=["the", "is", "not"],
        stemmer=None,
        vocabulary=VOCABULARY,
        surface_forms=SURFACE_FORMS,
        idf=idf,
        basis=rng.normal(size=(len(VOCABULARY), 3)),
        classifiers={
            "spam": {
                "status": "trained",
                "coef": [1.0, -2.0, 0.5],
                "intercept": -0.3,
                "threshold": {"threshold": 0.5, "policy": "max_f1"},
                "roc_auc": 0.9,
            },
            "ham": {
                "status": "trained",
                "coef": [-0.5, 0.7, 1.5],
                "intercept": 0.2,
                "threshold": {"threshold": 0.4, "policy": "max_f1"},
                "roc_auc": 0.8,
            },
        },
    )


@pytest.fixture(scope="module")
def vector():
    return VectorModel(make_model())


def word_multisets(blocks, count):
    """Sorted term indices of every text, from `_blocks` output."""
    words = [[] for _ in range(count)]
    for rows, indptr, terms in blocks:
        for local, (start, end) in enumerate(zip(indptr[:-1].tolist(), indptr[1:].tolist())):
            words[local if rows is None else int(rows[local])] += np.asarray(terms[start:end]).tolist()
    return [sorted(w) for w in words]


def portable_scores(portable, cleaned):
    """The stdlib scorer on an already cleaned text: (probabilities or None when nothing is known)."""
    vector = portable.tfidf(portable.term_indices(cleaned))
    if not vector:
        return None
    return [
        logistic(spec["intercept"] + sum(w * spec["weights"][i] for i, w in vector.items()))
        for spec in portable.classes
    ]


def assert_matches_portable(vector, texts):
    probabilities, known = vector.score(texts)
    assert probabilities.shape == (len(texts), len(vector.class_names)) and known.shape == (len(texts),)
    for row, text in enumerate(texts):
        expected = portable_scores(vector.portable, text)
        assert bool(known[row]) == (expected is not None), text
        if expected is not None:
            assert np.abs(probabilities[row] - expected).max() <= 1e-12, text


def fast_blocks(vector, texts):
    """`_blocks` with the Python path forbidden, so that the comparison below is not trivial."""
    def forbidden(_texts):
        raise AssertionError("the fast path fell back to Python")
    vector._python_block = forbidden  # shadows the method on this instance only
    try:
        return vector._blocks(texts)
    finally:
        del vector._python_block


def assert_fast_equals_python(vector, texts):
    blocks = fast_blocks(vector, texts)
    python = word_multisets([(None, *vector._python_block(texts))], len(texts))
    assert word_multisets(blocks, len(texts)) == python
    return python


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_adversarial_text(vector, text):
    words = assert_fast_equals_python(vector, [text])
    assert words[0] == sorted(vector.portable.term_indices(text))
    assert_matches_portable(vector, [text])


def test_words_found(vector):
    index = {word: i for i, word in enumerate(VOCABULARY)}
    found = word_multisets(
        fast_blocks(
            vector, ["'hello' a''b", "$$00 £0000", "ü'll twelvebytesx", "the prizes is not free", "hello\u00a0$"]
        ),
        5,
    )
    assert found == [
        sorted([index["hello"], index["a"], index["b"]]),
        sorted([index["$"], index["$"], index["00"], index["£"], index["0000"]]),
        sorted([index["ü'll"], index["abcdefghi"]]),
        sorted([index["prize"], index["free"]]),
        sorted([index["hello"], index["$"]]),
    ]


def test_mixed_ascii_and_non_ascii_batch(vector):
    texts = ADVERSARIAL * 3 + ["hello free prize " * 20, "café ü'll £00 " * 5]
    assert len(fast_blocks(vector, texts)) == 2  # an ASCII block and a non-ASCII one
    assert_fast_equals_python(vector, texts)
    assert_matches_portable(vector, texts)
    # the TF-IDF rows come back in the texts' order
    matrix = vector.tfidf(texts)
    for row in (0, 17, len(texts) - 1):
        np.testing.assert_allclose(matrix[row].toarray(), vector.tfidf([texts[row]]).toarray(), rtol=0, atol=1e-15)


def test_empty_batch(vector):
    probabilities, known = vector.score([])
    assert probabilities.shape == (0, 2) and known.shape == (0,)
    assert vector.tfidf([]).shape == (0, len(VOCABULARY))


def test_texts_without_any_word(vector):
    probabilities, known = vector.score(["", "'", "!!", "the is not"])
    assert not known.any() and probabilities.shape == (4, 2)


def test_a_newline_inside_a_text_does_not_split_it(vector):
    # Texts are joined by newlines on the fast path; rows are cut by lengths, not at newlines.
    texts = ["hello\nfree", "prize", "\n", "café\nprize\n", "\nhello $\n"]
    words = assert_fast_equals_python(vector, texts)
    assert [len(w) for w in words] == [2, 1, 0, 2, 2]
    assert_matches_portable(vector, texts)


def test_another_pattern_is_refused():
    # Only the pattern the fast path reimplements is ever run (sortbox.model_file.TOKEN_PATTERNS).
    with pytest.raises(ModelFileError, match="tokenizer.pattern: must be the pattern sortbox writes"):
        make_model(token_pattern=r"[a-z$£ü']+")


def test_random_texts(vector):
    rng = np.random.default_rng(0)
    pieces = VOCABULARY + ["'", "''", " ", "$", "ü", "é", "_", "0", "-", "\u0301", "the"]
    texts = ["".join(rng.choice(pieces, size=rng.integers(0, 15))) for _ in range(3000)]
    assert_fast_equals_python(vector, texts)
    assert_matches_portable(vector, texts)


def test_agrees_with_portable_score_on_raw_texts(vector):
    portable = PortableModel(make_model())
    raw = ["Hello!! FREE prize", "CAF\u00c9 \u00fc\u2019ll \u00a3100", "Don\u2019t rock\u2019n\u2019roll", "\U0001F600"]
    cleaned = [portable.clean(text)[0] or "" for text in raw]
    probabilities, known = vector.score(cleaned)
    for row, text in enumerate(raw):
        scores, reason = portable.score(text)
        assert (scores is not None) == bool(known[row]), (text, reason)
        if scores is not None:
            assert np.abs(probabilities[row] - scores).max() <= 1e-12


def test_words_chosen_to_share_a_hash_slot_do_not_pile_up():
    """A hostile model file could hold words that all hash to one slot under a fixed multiplier
    (quadratic building and lookups); with a random multiplier per table they spread out."""
    rng = np.random.default_rng(3)
    letters = rng.integers(ord("a"), ord("z") + 1, size=(600_000, 6), dtype=np.uint64)
    keys = np.zeros(len(letters), dtype=np.uint64)
    for position in range(6):
        keys |= letters[:, position] << np.uint64(8 * position)
    bits = (8 * 200).bit_length()  # the table size _WordTable picks for 200 words
    fibonacci = (keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits)
    colliding = keys[fibonacci == np.bincount(fibonacci.astype(np.intp)).argmax()][:200]
    assert len(colliding) == 200  # all in one slot of a fixed Fibonacci hash
    table = _WordTable({int(key).to_bytes(6, "little"): term for term, key in enumerate(colliding.tolist())})
    (stored,), _, shift = table._short
    size = len(stored)
    displacement = [
        (position - (table._hash((key,)) >> int(shift))) % size for position, key in enumerate(stored.tolist()) if key
    ]
    assert len(displacement) == 200 and max(displacement) < 20
    words = b"".join(int(key).to_bytes(6, "little") + b" " for key in colliding.tolist()) + b"\0" * 8
    found = table.find(words, np.arange(200) * 7, np.full(200, 6))
    assert found.tolist() == list(range(200))
