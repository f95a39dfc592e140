"""Tokenisation: an nltk tokenizer that needs no downloaded data, shipped stopwords, cached Snowball stems.

Runs on the cleaned text (lower-cased, digits zeroed). The tokenizer implements nltk's
`TokenizerI` with the standard library's `re`: nltk 3.10's own `RegexpTokenizer` routes every
pattern through the third-party `regex` engine under a per-call timeout, which measured 5x slower
here, and whose Unicode tables are not those of the stdlib `re` that the portable scorer (and so
every client) uses: the same pattern must split text the same way in both places. The message
vocabulary is Zipfian, so each distinct surface form is stemmed once and remembered (a cache: it
never changes a result).

What tokenising a corpus learns (term counts, the surface-form -> term table exported with the
model so that a client needs no stemmer) is gathered in an explicit `TermTally` the caller passes
in, chunk after chunk; a `Tokenizer` holds nothing learned from the texts it has seen.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nltk.stem.snowball import SnowballStemmer
from nltk.tokenize.api import TokenizerI

from sortbox.wordlists import DEFAULT_TOKEN_PATTERN


class StdlibRegexpTokenizer(TokenizerI):
    """nltk tokenizer returning every match of `pattern` (Python `re`) in a text."""

    def __init__(self, pattern: str):
        self.pattern = pattern
        self._regexp = re.compile(pattern)

    def tokenize(self, text: str) -> list[str]:
        return self._regexp.findall(text)


@dataclass
class TermTally:
    """What tokenising a corpus yields besides the terms, accumulated over its chunks.

    `term_counts`: how often each term occurs (for the minimum word frequency); `forms`: the term
    of every surface word seen (stopwords aside), the table exported with the model.
    """

    term_counts: Counter = field(default_factory=Counter)
    forms: dict[str, str] = field(default_factory=dict)

    def vocabulary(self, min_word_frequency: int) -> dict[str, int]:
        """Terms seen at least `min_word_frequency` times, with their counts (sorted by term)."""
        return {term: n for term, n in sorted(self.term_counts.items()) if n >= min_word_frequency}

    def to_json(self) -> dict:
        """The tally as plain JSON data (sorted), for a shard's checkpoint."""
        return {"term_counts": dict(sorted(self.term_counts.items())), "forms": dict(sorted(self.forms.items()))}

    @classmethod
    def from_json(cls, data: dict) -> "TermTally":
        return cls(term_counts=Counter(data["term_counts"]), forms=dict(data["forms"]))

    @classmethod
    def merged(cls, tallies: Iterable["TermTally"]) -> "TermTally":
        """One tally of several shards': counts added; a word's term is the same in every shard
        (tokenising is a transform), so the forms' union does not depend on the order."""
        total = cls()
        for tally in tallies:
            total.term_counts.update(tally.term_counts)
            total.forms.update(tally.forms)
        return total

    def surface_forms(self, vocabulary: Sequence[str] | dict) -> dict[str, str]:
        """The surface-form -> term table restricted to terms of `vocabulary` (sorted by form)."""
        keep = set(vocabulary)
        return {form: term for form, term in sorted(self.forms.items()) if term in keep}


@dataclass
class Tokenizer:
    """Turns cleaned texts into lists of terms: tokenise, drop stopwords, stem (cached).

    A transform: the terms of a text never depend on what was tokenised before. Pass a
    `TermTally` to gather the term counts and surface forms of the texts.
    """

    stopwords: frozenset[str]
    language: str = "english"
    pattern: str = DEFAULT_TOKEN_PATTERN
    stem: bool = True

    def __post_init__(self) -> None:
        # Cleaned texts hold no newline, so a whole chunk is tokenised in one call with "\n" as
        # the boundary between messages: one regex scan per chunk instead of one per message.
        self._tokenizer = StdlibRegexpTokenizer(f"(?:{self.pattern})|\n")
        self._stemmer = SnowballStemmer(self.language) if self.stem else None
        # Caches, filled as words are met; they never change a result. `_lookup`: surface form ->
        # term, or None for a stopword (one dict lookup per token); `_stems`: the stemmed words.
        self._lookup: dict[str, str | None] = dict.fromkeys(self.stopwords)
        self._stems: dict[str, str] = {}

    def _term(self, word: str) -> str | None:
        term = self._stemmer.stem(word) if self._stemmer else word
        self._stems[word] = term
        self._lookup[word] = term
        return term

    def _record_forms(self, tally: TermTally, words: Iterable[str]) -> None:
        """Add the term of each distinct non-stopword in `words` (every one already stemmed) to `tally`."""
        stems = self._stems
        tally.forms.update({word: stems[word] for word in words if word in stems})

    def tokenize(self, texts: Sequence[str], tally: TermTally | None = None) -> list[list[str]]:
        """Terms of each cleaned text, in order; their counts and surface forms are added to `tally`."""
        if any("\n" in text for text in texts):
            raise ValueError("tokenize expects cleaned texts (no newlines)")
        lookup, term_of, missing = self._lookup, self._term, object()
        result: list[list[str]] = []
        current: list[str] = []
        words = self._tokenizer.tokenize("\n".join(texts))
        for word in words:
            if word == "\n":
                result.append(current)
                current = []
                continue
            term = lookup.get(word, missing)
            if term is missing:
                term = term_of(word)
            if term is not None:
                current.append(term)
        if texts:
            result.append(current)
        if tally is not None:
            for terms in result:
                tally.term_counts.update(terms)
            self._record_forms(tally, set(words))
        return result

    def tokenize_arrow(self, texts: pa.Array, tally: TermTally | None = None) -> pa.ListArray:
        """`tokenize` for an Arrow string array, vectorised where the result is provably the same.

        A message takes the fast path when it is ASCII, holds no "$" and no apostrophe outside a
        word (then Python's \\w is RE2's [A-Za-z0-9_], and the pattern's matches are exactly the
        pieces left by splitting on [^A-Za-z0-9_']+). Other messages go through `tokenize`.
        Words seen for the first time are stemmed in Python once; every other lookup is Arrow's.
        """
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        texts = texts.cast(pa.string())
        count = len(texts)
        if self.pattern != DEFAULT_TOKEN_PATTERN or count == 0:
            return pa.array(self.tokenize(texts.to_pylist(), tally), pa.list_(pa.string()))
        fast = pc.and_(
            pc.string_is_ascii(texts),
            pc.invert(pc.match_substring_regex(texts, r"[$\n]|(^|[^A-Za-z0-9_])'|'($|[^A-Za-z0-9_])")),
        ).to_numpy(zero_copy_only=False)
        fast_rows = np.flatnonzero(fast)
        slow_rows = np.flatnonzero(~fast)
        words = pc.split_pattern_regex(texts.take(pa.array(fast_rows)), r"[^A-Za-z0-9_']+")
        flat = pc.list_flatten(words)
        parents = pc.list_parent_indices(words).to_numpy(zero_copy_only=False)
        keep = pc.and_(pc.not_equal(flat, ""), pc.invert(pc.is_in(flat, value_set=self._stopword_array())))
        flat = flat.filter(keep)
        parents = parents[keep.to_numpy(zero_copy_only=False)]
        words_here = pc.unique(flat)
        self._learn(words_here.filter(pc.is_null(pc.index_in(words_here, value_set=self._form_array()))).to_pylist())
        term_ids = pc.index_in(flat, value_set=self._form_array())
        terms = self._term_array().take(term_ids)
        offsets = np.searchsorted(parents, np.arange(len(fast_rows) + 1))
        fast_lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), terms)
        if tally is not None:
            for value in pc.value_counts(terms).to_pylist():
                tally.term_counts[value["values"]] += value["counts"]
            self._record_forms(tally, words_here.to_pylist())
        slow_lists = pa.array(self.tokenize([texts[int(i)].as_py() for i in slow_rows], tally), pa.list_(pa.string()))
        combined = pa.concat_arrays([fast_lists, slow_lists])
        order = np.empty(count, dtype=np.int64)
        order[np.concatenate([fast_rows, slow_rows])] = np.arange(count)
        return combined.take(pa.array(order))

    def _learn(self, words: list[str]) -> None:
        """Stem words seen for the first time (they join the surface-form table)."""
        for word in words:
            self._term(word)
        if words:
            self._forms = None  # the Arrow copies of the table are stale

    def _form_array(self) -> pa.Array:
        if getattr(self, "_forms", None) is None:
            self._forms = (pa.array(list(self._stems), pa.string()), pa.array(list(self._stems.values()), pa.string()))
        return self._forms[0]

    def _term_array(self) -> pa.Array:
        self._form_array()
        return self._forms[1]

    def _stopword_array(self) -> pa.Array:
        if getattr(self, "_stopword_values", None) is None:
            self._stopword_values = pa.array(sorted(self.stopwords), pa.string())
        return self._stopword_values


TOKENS_SCHEMA = pa.schema(
    [pa.field("id", pa.string(), nullable=False), pa.field("terms", pa.list_(pa.string()), nullable=False)]
)


def tokenize_chunk(chunk: pa.Table, tokenizer: Tokenizer, tally: TermTally | None = None) -> pa.Table:
    """Terms of a chunk of cleaned messages (columns id, text) as a TOKENS_SCHEMA table; their
    counts and surface forms are added to `tally`."""
    return pa.table(
        {"id": chunk.column("id"), "terms": tokenizer.tokenize_arrow(chunk.column("text"), tally)}, schema=TOKENS_SCHEMA
    )
