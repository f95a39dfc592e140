"""Vectorised scoring with the published model JSON: the same algorithm as the portable scorer,
a chunk of messages at a time (one tokenising pass, one sparse matrix product per chunk).

Tokenising is the hot spot. With the default token pattern it runs with numpy over all texts of a
chunk at once: ASCII texts as bytes (`_ascii_block`), texts with other characters as code points
(`_unicode_block`), finding the same words as Python `re` findall does, and looks them up in a
hash table of packed words (`_WordTable`). `_python_block`, Python `re` text by text (the portable
scorer's own rule), is the reference the fast path is tested against; a model file cannot name
another pattern (sortbox.model_file.TOKEN_PATTERNS). (Arrow's RE2 kernels were tried
first: `pc.split_pattern_regex` alone ran at about 200k messages/s, slower than this whole path.)
"""
from __future__ import annotations

import re
import secrets
from itertools import compress
from typing import Sequence

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from sortbox.clean import CleaningOptions
from sortbox.linear import sigmoid
from sortbox.portable_scorer import PortableModel, csv_safe, scores_header

# The pattern the fast path reimplements (sortbox.wordlists.DEFAULT_TOKEN_PATTERN, copied rather
# than imported: the fast path is right for exactly this text, whatever the default becomes).
FAST_PATH_PATTERN = r"\w+(?:'\w+)*|[$£€¥]"
_CURRENCY_SIGNS = "$£€¥"  # the pattern's second alternative: each sign is a word of its own
_PADDING = "\0" * 8  # after a chunk: 8 bytes can be read at any word start (NUL is in no word)

_APOSTROPHE, _DOLLAR = ord("'"), ord("$")
_WORD_CHARACTER = re.compile(r"\w")
# Masks keeping the first n bytes of a little-endian uint64 (n = 0..8).
_BYTE_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)
_MASK64 = (1 << 64) - 1
# In the hot paths, numpy `take`/`compress` are used over fancy/boolean indexing: several times faster.


def _ascii_word_characters(codes: np.ndarray) -> np.ndarray:
    """True where a code (byte or code point) is an ASCII character Python's `\\w` matches: on
    ASCII, exactly [A-Za-z0-9_]. Unsigned arithmetic wraps around, so one comparison tests a range."""
    letter = (codes | np.uint8(0x20)) - np.uint8(ord("a")) < 26
    digit = codes - np.uint8(ord("0")) < 10
    return letter | digit | (codes == ord("_"))


def _word_runs(codes: np.ndarray, word: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the words `\\w+(?:'\\w+)*` findall returns from `codes` (bytes or code
    points, texts separated by newlines), given where the \\w characters are (`word`, modified).

    Findall returns exactly the maximal runs of \\w characters and of apostrophes with a \\w
    character on both sides: a match ends only before a non-word character or an apostrophe not
    followed by one, and the scan resumes at the next \\w ("'hi'" -> hi, "a''b" -> a, b,
    "rock'n'roll" -> rock'n'roll). A newline is not \\w: no word spans two texts.
    """
    size = len(codes)
    apostrophes = np.flatnonzero(codes == _APOSTROPHE)
    apostrophes = apostrophes[(apostrophes > 0) & (apostrophes < size - 1)]
    word[apostrophes[word[apostrophes - 1] & word[apostrophes + 1]]] = True
    edges = np.zeros(size + 1, dtype=bool)
    if size:
        edges[0], edges[size] = word[0], word[-1]
        np.not_equal(word[1:], word[:-1], out=edges[1:size])
    bounds = np.flatnonzero(edges)  # starts and ends alternate
    return bounds[0::2], bounds[1::2]


class _WordTable:
    """Exact lookup of words by their bytes, with numpy over many words at once.

    A word of up to 16 bytes is packed into one or two little-endian uint64 (its bytes, zero-padded):
    an exact key, never 0 (no word holds a NUL byte). Words of up to 8 bytes (96% of the words of
    SMS texts) and of 9 to 16 bytes live in two open-addressing tables (multiply-shift hashing,
    linear probing, load under 1/8, key 0 = empty slot), longer ones in a dict. Measured faster
    than Arrow's `pc.index_in`, which hashes strings and needs the words cut out into a string array.

    The words come from a model file, which may be hostile: with a fixed multiplier, words chosen
    to share one slot would make building and every lookup quadratic. The multipliers are random
    odd numbers drawn per table (multiply-shift with a random odd multiplier is universal hashing:
    no set of words collides more than by chance). They change only where a word is stored, never
    what a lookup returns, so scores stay deterministic.
    """

    def __init__(self, words: dict[bytes, int]):
        self._multiplier, self._mixer = secrets.randbits(64) | 1, secrets.randbits(64) | 1
        self._short = self._build({(int.from_bytes(w, "little"),): t for w, t in words.items() if len(w) <= 8}, width=1)
        self._medium = self._build(
            {
                (int.from_bytes(w[:8], "little"), int.from_bytes(w[8:], "little")): t
                for w, t in words.items()
                if 8 < len(w) <= 16
            },
            width=2,
        )
        self._long = {w: t for w, t in words.items() if len(w) > 16}

    def _hash(self, key: tuple[int, ...]) -> int:
        """The 64-bit hash `_probe` computes with numpy, for one key at build time."""
        mixed = key[0] ^ ((key[1] * self._mixer) & _MASK64) if len(key) > 1 else key[0]
        return (mixed * self._multiplier) & _MASK64

    def _build(self, entries: dict[tuple[int, ...], int], width: int) -> tuple[list[np.ndarray], np.ndarray, np.uint64]:
        """(key parts, terms, hash shift) of a table holding `entries` (packed word -> term)."""
        bits = max(4, (8 * len(entries)).bit_length())
        keys, terms = [[0] * (1 << bits) for _ in range(width)], [-1] * (1 << bits)
        for key, term in entries.items():
            slot = self._hash(key) >> (64 - bits)
            while keys[0][slot]:
                slot = (slot + 1) & ((1 << bits) - 1)
            for part, value in zip(keys, key):
                part[slot] = value
            terms[slot] = term
        return [np.array(part, dtype=np.uint64) for part in keys], np.array(terms, dtype=np.int32), np.uint64(64 - bits)

    def _probe(self, table: tuple[list[np.ndarray], np.ndarray, np.uint64], keys: list[np.ndarray]) -> np.ndarray:
        """Term (or -1) of each packed key (`keys`: one array per part): the slot of its hash,
        then the next ones while they hold another key."""
        table_keys, table_terms, shift = table
        mixed = keys[0] ^ (keys[1] * np.uint64(self._mixer)) if len(keys) > 1 else keys[0]
        slots = ((mixed * np.uint64(self._multiplier)) >> shift).astype(np.intp)
        stored = table_keys[0].take(slots)
        hit = stored == keys[0]
        for table_part, key_part in zip(table_keys[1:], keys[1:]):
            hit &= table_part.take(slots) == key_part
        terms = table_terms.take(slots)  # -1 at an empty slot
        pending = np.flatnonzero(~hit & (stored != 0))  # another key in the slot: probe on
        terms[pending] = -1
        mask = len(table_terms) - 1
        while len(pending):
            pending_slots = (slots.take(pending) + 1) & mask
            slots[pending] = pending_slots
            stored = table_keys[0].take(pending_slots)
            hit = stored == keys[0].take(pending)
            for table_part, key_part in zip(table_keys[1:], keys[1:]):
                hit &= table_part.take(pending_slots) == key_part.take(pending)
            terms[pending[hit]] = table_terms.take(pending_slots[hit])
            pending = pending[~hit & (stored != 0)]
        return terms

    def find(self, buffer: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Term (or -1) of each word buffer[start:start + length]; `buffer` ends with 8 NUL bytes
        of padding, so that 8 bytes can be read at every word start."""
        # An unaligned view; indexed with [] since `take` would first copy it whole to align it.
        eight_bytes = np.ndarray(shape=(len(buffer) - 7,), dtype=np.uint64, buffer=buffer, strides=(1,))
        terms = self._probe(self._short, [eight_bytes[starts] & _BYTE_MASKS.take(np.minimum(lengths, 8))])
        medium = np.flatnonzero(lengths > 8)
        if len(medium):
            medium_starts, medium_lengths = starts.take(medium), lengths.take(medium)
            first, second = (
                eight_bytes[medium_starts],
                eight_bytes[medium_starts + 8] & _BYTE_MASKS.take(np.minimum(medium_lengths - 8, 8)),
            )
            terms[medium] = self._probe(self._medium, [first, second])
            for index in np.flatnonzero(medium_lengths > 16).tolist():
                start = int(medium_starts[index])
                terms[medium[index]] = self._long.get(buffer[start:start + int(medium_lengths[index])], -1)
        return terms


def _known_indptr(known: np.ndarray, word_indptr: np.ndarray) -> np.ndarray:
    """CSR indptr of the known words, from the indptr of all words and which words are known."""
    before = np.zeros(len(known) + 1, dtype=np.int64)
    np.cumsum(known, out=before[1:])
    return before.take(word_indptr)


def _add_singles(indptr: np.ndarray, terms: np.ndarray, rows: np.ndarray, term: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indptr, terms) with one more `term` in each of `rows` (repeats allowed)."""
    if not len(rows):
        return indptr, terms
    terms = np.insert(terms, indptr.take(rows + 1), term)  # at the end of each row: order in a row is free
    extra = np.cumsum(np.bincount(rows + 1, minlength=len(indptr)))
    return indptr + extra, terms


def _text_ends(texts: Sequence[str]) -> np.ndarray:
    """Position of the separator after each text in `"\\n".join(texts)` (in characters).

    From the lengths, not by searching newlines: a text may hold one (cleaned texts do not),
    and a newline is not \\w, so the words stay the same; only the separators split rows."""
    ends = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    ends[1:] += 1  # the separators
    return np.cumsum(ends)


def _text_starts(text_ends: np.ndarray) -> np.ndarray:
    """Start of every text and, last, one past the separator after the last one."""
    starts = np.zeros(len(text_ends) + 1, dtype=np.int64)
    starts[1:] = text_ends + 1
    return starts


class VectorModel:
    """Model JSON as arrays: weights (terms x classes), intercepts, thresholds, idf."""

    def __init__(self, model: dict):
        self.portable = PortableModel(model)  # validates the schema; shares parsing rules
        self.class_names = self.portable.class_names
        self.weights = np.array(
            [model["classes"][name]["weights"] for name in self.class_names], dtype=np.float64
        ).T.reshape(len(model["idf"]), len(self.class_names))
        self.intercepts = np.array([model["classes"][name]["intercept"] for name in self.class_names], dtype=np.float64)
        self.thresholds = np.array([model["classes"][name]["threshold"] for name in self.class_names], dtype=np.float64)
        self.idf = np.asarray(model["idf"], dtype=np.float64)
        # The portable scorer skips stopwords before the surface-form lookup: a word that were both
        # would not count there, so it must not count here either.
        stopwords = self.portable.stopwords
        self._lookup = {word: index for word, index in self.portable.surface_forms.items() if word not in stopwords}
        self._fast = self.portable.token_pattern.pattern == FAST_PATH_PATTERN
        if self._fast:
            self._prepare_fast_path()

    def _prepare_fast_path(self) -> None:
        """Lookup structures of `_ascii_block` and `_unicode_block`."""
        self._words = _WordTable({word.encode("utf-8", "surrogatepass"): term for word, term in self._lookup.items()})
        self._currency_terms = {ord(sign): self._lookup[sign] for sign in _CURRENCY_SIGNS if sign in self._lookup}
        self._is_word: dict[int, bool] = {}  # non-ASCII code point -> matched by Python's \w (cache)

    def cleaning_options(self) -> CleaningOptions:
        """The model's own cleaning and quarantine settings (not the current configuration's)."""
        return CleaningOptions(
            spec=self.portable.model["cleaning"],
            max_chars=self.portable.max_chars,
            quarantine_control_characters=self.portable.quarantine_controls,
        )

    def tfidf(self, cleaned_texts: Sequence[str]) -> sp.csr_matrix:
        """Messages x terms L2-normalised TF-IDF of cleaned texts (unknown words ignored)."""
        blocks = self._blocks(cleaned_texts)
        matrices = [self._block_tfidf(indptr, terms)[0] for _, indptr, terms in blocks]
        if len(blocks) == 1:
            return matrices[0].tocsr()
        stacked = sp.vstack(matrices, format="csr")
        return stacked[np.argsort(np.concatenate([rows for rows, _, _ in blocks]))]

    def score(self, cleaned_texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities: messages x classes, known: False where no word of a message is known)."""
        blocks = self._blocks(cleaned_texts)
        probabilities = np.empty((len(cleaned_texts), len(self.class_names)))
        known = np.empty(len(cleaned_texts), dtype=bool)
        for rows, indptr, terms in blocks:
            matrix, block_known = self._block_tfidf(indptr, terms)
            block_probabilities = sigmoid(matrix @ self.weights + self.intercepts)
            if rows is None:
                return block_probabilities, block_known
            probabilities[rows], known[rows] = block_probabilities, block_known
        return probabilities, known

    def _block_tfidf(self, indptr: np.ndarray, terms: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray]:
        """The TF-IDF matrix of `sortbox.embed.tfidf_from_indices` (raw counts times idf, terms of
        idf 0 dropped, rows L2-normalised) of term indices in CSR layout, in CSC layout, and which
        rows have a nonzero weight (the portable scorer's "no_known_term" is a zero norm).

        CSR -> CSC is a linear bucket sort by term that keeps rows in order, so a repeated word
        lands next to itself and summing repeats is linear too: no sort inside every row."""
        count = len(indptr) - 1
        matrix = sp.csr_matrix((np.ones(len(terms)), terms, indptr), shape=(count, len(self.idf))).tocsc()
        matrix.sum_duplicates()
        weights = matrix.data * np.repeat(self.idf, np.diff(matrix.indptr))
        norms = np.sqrt(np.bincount(matrix.indices, weights * weights, minlength=count))
        known = norms > 0
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=known)
        matrix.data = weights * inverse.take(matrix.indices)
        matrix.eliminate_zeros()  # terms of idf 0, as gensim does
        return matrix, known

    def _blocks(self, texts: Sequence[str]) -> list[tuple[np.ndarray | None, np.ndarray, np.ndarray]]:
        """The known words of the texts in blocks: (rows: which texts, None for all; CSR indptr
        over those texts; term indices), each block tokenised its own way."""
        if not self._fast or not len(texts):
            return [(None, *self._python_block(texts))]
        flags = bytes(map(str.isascii, texts))  # one byte per text, 1 = ASCII; read by numpy in place
        if 0 not in flags:
            return [(None, *self._ascii_block(texts))]
        ascii_flags = np.frombuffer(flags, dtype=bool)
        ascii_rows, other_rows = np.flatnonzero(ascii_flags), np.flatnonzero(~ascii_flags)
        blocks = [(other_rows, *self._unicode_block([texts[row] for row in other_rows.tolist()]))]
        if len(ascii_rows):
            blocks.append((ascii_rows, *self._ascii_block(list(compress(texts, flags)))))
        return blocks

    def _python_block(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(CSR indptr, term indices) of the known words by the portable scorer's rule: Python `re`
        findall with the model's own pattern, one text at a time (right for any pattern)."""
        findall, lookup = self.portable.token_pattern.findall, self._lookup
        terms: list[int] = []
        indptr = [0]
        for text in texts:
            terms += [term for term in map(lookup.get, findall(text)) if term is not None]
            indptr.append(len(terms))
        return np.asarray(indptr, dtype=np.int64), np.asarray(terms, dtype=np.int32)

    def _ascii_block(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """`_python_block` for the default pattern and ASCII texts, with numpy over the bytes of all
        texts at once (joined by newlines, which no word spans)."""
        buffer = ("\n".join(texts) + _PADDING).encode("ascii")
        data = np.frombuffer(buffer, dtype=np.uint8)[: -len(_PADDING)]
        text_ends = _text_ends(texts)
        starts, ends = _word_runs(data, _ascii_word_characters(data))
        terms = self._words.find(buffer, starts, ends - starts)
        known = terms >= 0
        indptr = _known_indptr(known, np.searchsorted(starts, _text_starts(text_ends)))
        terms = np.compress(known, terms)
        dollar = self._currency_terms.get(_DOLLAR)
        if dollar is not None:  # "$", the pattern's only ASCII currency sign
            indptr, terms = _add_singles(
                indptr, terms, np.searchsorted(text_ends, np.flatnonzero(data == _DOLLAR)), dollar
            )
        return indptr, terms

    def _unicode_block(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """`_ascii_block` for texts with non-ASCII characters (a few percent), on code points: \\w
        is tested with Python `re` once per distinct non-ASCII character, words are found by code
        point and looked up at the matching UTF-8 byte positions."""
        joined = "\n".join(texts)
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        text_ends = _text_ends(texts)  # one code point per character
        word = _ascii_word_characters(codes)  # false for every non-ASCII code point: set below
        wide = np.flatnonzero(codes >= 0x80)
        distinct, inverse = np.unique(codes.take(wide), return_inverse=True)
        is_word = self._is_word
        for code in distinct.tolist():
            if code not in is_word:
                is_word[code] = _WORD_CHARACTER.match(chr(code)) is not None
        word[wide] = np.array([is_word[code] for code in distinct.tolist()], dtype=bool).take(inverse)
        starts, ends = _word_runs(codes, word)
        # Code point position -> UTF-8 byte position (1 to 4 bytes per code point).
        utf8_positions = np.zeros(len(codes) + 1, dtype=np.int64)
        np.cumsum(1 + (codes >= 0x80).astype(np.int64) + (codes >= 0x800) + (codes >= 0x10000), out=utf8_positions[1:])
        byte_starts = utf8_positions.take(starts)
        utf8 = (joined + _PADDING).encode("utf-8", "surrogatepass")
        terms = self._words.find(utf8, byte_starts, utf8_positions.take(ends) - byte_starts)
        known = terms >= 0
        indptr = _known_indptr(known, np.searchsorted(starts, _text_starts(text_ends)))
        terms = np.compress(known, terms)
        for code, term in self._currency_terms.items():
            indptr, terms = _add_singles(indptr, terms, np.searchsorted(text_ends, np.flatnonzero(codes == code)), term)
        return indptr, terms


class ModelSet:
    """Several models scored side by side (a release holds one model file per class).

    They must share cleaning and quarantine settings, so that one pass of cleaning serves all;
    a message is scorable only when every model knows one of its words.
    """

    def __init__(self, models: Sequence[dict]):
        if not models:
            raise ValueError("no model to score with")
        first = models[0]
        for model in models[1:]:
            if model["cleaning"] != first["cleaning"] or model["quarantine"] != first["quarantine"]:
                raise ValueError(
                    f"models {first['model_id'][:12]} and {model['model_id'][:12]} clean texts differently: "
                    f"score them separately"
                )
        self.vectors = sorted((VectorModel(m) for m in models), key=lambda v: v.class_names)
        self.class_names = [name for vector in self.vectors for name in vector.class_names]
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"several models score the same class: {self.class_names}")
        self.thresholds = np.concatenate([vector.thresholds for vector in self.vectors])
        self.model_ids = sorted(m["model_id"] for m in models)

    def cleaning_options(self) -> CleaningOptions:
        return self.vectors[0].cleaning_options()

    def header(self) -> list[str]:
        return scores_header(self.class_names)

    def score(self, cleaned_texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities: messages x classes, scorable by every model)."""
        results = [vector.score(cleaned_texts) for vector in self.vectors]
        known = np.logical_and.reduce([k for _, k in results])
        return np.hstack([p for p, _ in results]), known


def scores_table(model: VectorModel | ModelSet, ids: Sequence[str], scores: np.ndarray) -> list[tuple[str, ...]]:
    """scores.csv rows for scored messages (same formatting as the portable scorer: repr of the
    float, 1/0 decisions), built column by column."""
    decisions = scores >= model.thresholds  # messages x classes
    columns: list = [map(csv_safe, ids)]
    for column in range(scores.shape[1]):
        columns.append(map(repr, scores[:, column].tolist()))
        columns.append(np.where(decisions[:, column], "1", "0").tolist())
    return list(zip(*columns))


def unscorable_rows(quarantine: pa.Table) -> list[list[str]]:
    """unscorable.csv rows (id, reason) for quarantined messages."""
    return [
        [csv_safe(i or ""), f"quarantined:{r}"]
        for i, r in zip(quarantine.column("id").to_pylist(), quarantine.column("reason").to_pylist())
    ]
