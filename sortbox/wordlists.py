"""The shipped stopword lists and the token pattern: what the tokenizer and the exported model
share, importable without nltk (whose import takes about a second: task modules import this at
load time, and a no-op rerun of the DAG should not pay for nltk)."""
from __future__ import annotations

from pathlib import Path

#: Words (letters/digits/underscore, with inner apostrophes: "don't") and currency signs, which
#: matter for spam ("£0000"). Python `re` syntax on cleaned text; exported verbatim.
DEFAULT_TOKEN_PATTERN = r"\w+(?:'\w+)*|[$£€¥]"


class StopwordsError(ValueError):
    """The stopword list for a language is missing or unreadable."""


def load_stopwords(stopwords_dir: Path, language: str) -> frozenset[str]:
    """Read `<stopwords_dir>/<language>.txt`: one word a line, `#` comments and blank lines ignored."""
    path = Path(stopwords_dir) / f"{language}.txt"
    if not path.is_file():
        available = sorted(p.stem for p in Path(stopwords_dir).glob("*.txt")) if Path(stopwords_dir).is_dir() else []
        raise StopwordsError(
            f"{path}: no stopword list for language {language!r} (available: {', '.join(available) or 'none'})"
        )
    words = (line.strip().lower() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(w for w in words if w and not w.startswith("#"))
