"""Settings checked before anything runs: one line naming the option, its value and what is allowed.

`RULES` is the table of every option whose bad value would otherwise fail late (hours into a
night) or silently; `check_section` applies it to one section's values. `check_param_grid`
builds scikit-learn's LogisticRegression for each grid candidate (imported only there).
Plain values in, SettingsError out; nothing here reads the configuration itself.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

from sortbox.shards import MAX_SHARDS

#: The value that unsets an optional option on the command line, where luigi takes an empty
#: value for "not given" and falls back to the configuration file (`--source-timestamp-column -`).
UNSET = "-"
#: Largest seed numpy and scikit-learn accept (random_state).
MAX_SEED = 2**32 - 1


class SettingsError(ValueError):
    """A configuration value that cannot work; the message names the option and what is allowed."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def integer(minimum: int, maximum: int | None = None) -> tuple[Callable[[object], bool], str]:
    allowed = f"an integer from {minimum} to {maximum}" if maximum is not None else f"an integer >= {minimum}"
    return (lambda v: _is_int(v) and v >= minimum and (maximum is None or v <= maximum)), allowed


def number(
    low: float, high: float | None = None, *, low_open: bool = False, high_open: bool = False
) -> tuple[Callable[[object], bool], str]:
    def ok(v: object) -> bool:
        if not _is_number(v):
            return False
        above = v > low if low_open else v >= low
        below = high is None or (v < high if high_open else v <= high)
        return above and below

    if high is None:
        allowed = f"a finite number {'>' if low_open else '>='} {low:g}"
    else:
        allowed = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    return ok, allowed


def one_of(*choices: str) -> tuple[Callable[[object], bool], str]:
    return (lambda v: v in choices), "one of " + ", ".join(choices)


def text() -> tuple[Callable[[object], bool], str]:
    return (lambda v: isinstance(v, str) and v != ""), "a non-empty text"


def optional(rule: tuple[Callable[[object], bool], str]) -> tuple[Callable[[object], bool], str]:
    check, allowed = rule
    return (lambda v: v is None or check(v)), f"{allowed}, or empty (unset it on the command line with {UNSET})"


#: section -> option -> (check, allowed values). Options not listed here are checked where they
#: are used, also while scheduling: table and columns by reflection when extraction starts,
#: since/until by `[source]`'s parser, rule files when they are compiled, the grid below.
RULES: dict[str, dict[str, tuple[Callable[[object], bool], str]]] = {
    "database": {
        "retries": integer(0),
        "retry_delay_seconds": number(0),
        "statement_timeout_seconds": number(0),
    },
    "source": {
        "table": text(),
        "id_column": text(),
        "text_column": text(),
        "sample_fraction": number(0, 1, low_open=True),
        "chunk_size": integer(1),
        "label_separator": text(),
    },
    "paths": {"output_root": text()},
    "cleaning": {
        "unicode_normalization": one_of("NFC", "NFKC", "NFD", "NFKD"),
        "max_chars": integer(1),
    },
    "tokenize": {"min_word_frequency": integer(1)},
    "dictionary": {
        "no_above": number(0, 1, low_open=True),
        "keep_n": integer(1),
    },
    "shards": {"count": integer(1, MAX_SHARDS)},
    "lsi": {
        "num_topics": integer(1),
        "power_iters": integer(0),
        "seed": integer(0, MAX_SEED),
        "chunk_size": integer(1),
    },
    "training": {
        "folds": integer(2),
        "seed": integer(0, MAX_SEED),
        "n_jobs": ((lambda v: _is_int(v) and v != 0), "a non-zero integer (-1: every core)"),
        "threshold_target": optional(number(0, 1, low_open=True)),
        "holdout_fraction": number(0, 1, high_open=True),
        "max_rows": integer(1),
        "small_data_rows": integer(0),
        "small_data_cv_repeats": integer(1),
    },
    "publish": {
        "root": text(),
        "keep": integer(1),
        "margin": number(0, 1, high_open=True),
    },
}


def refuse(section: str, option: str, value: object, allowed: str) -> SettingsError:
    """The one-line error for a bad value."""
    return SettingsError(f"[{section}] {option} = {value!r} is not allowed: must be {allowed}")


def check_section(section: str, values: Mapping[str, object]) -> None:
    """Apply `RULES[section]` (and the rules that tie two options together) to `values`."""
    for option, (check, allowed) in RULES.get(section, {}).items():
        if option in values and not check(values[option]):
            raise refuse(section, option, values[option], allowed)
    if section == "training":
        if values.get("threshold_policy") in ("precision", "recall") and values.get("threshold_target") is None:
            raise refuse(
                section,
                "threshold_target",
                None,
                f"a number in (0, 1] when threshold_policy = {values['threshold_policy']}",
            )
        for option in GRID_OPTIONS:
            grid = values.get(option)
            if grid is not None:
                check_grid_shape(grid, option)
        if values.get("class_thresholds") is not None:
            check_class_thresholds(values["class_thresholds"])


#: The [training] options that hold a grid (param_grid above small_data_rows messages).
GRID_OPTIONS = ("param_grid", "small_data_param_grid")
#: Grid keys of sortbox's own (sortbox.model_selection.SELECTION_KEYS), not LogisticRegression's.
SELECTION_KEYS = {"topics": "a positive integer", "scale": "true or false"}


def check_grid_shape(grid: object, option: str = "param_grid") -> None:
    """A `[training]` grid is a JSON object: LogisticRegression parameter -> non-empty list."""
    allowed = 'a JSON object of LogisticRegression parameter -> non-empty list of values, e.g. {"C": [0.1, 1.0]}'
    if not isinstance(grid, Mapping):
        raise refuse("training", option, grid, allowed)
    for key, values in grid.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise refuse("training", option, {key: values}, allowed)


def check_class_thresholds(per_class: object) -> None:
    """`[training] class_thresholds`: class name -> {"policy": max_f1|precision|recall, "target": t},
    a target in (0, 1] for precision and recall, none for max_f1."""
    allowed = (
        'a JSON object of class -> {"policy": "max_f1" | "precision" | "recall", "target": a number in (0, 1]}, '
        'e.g. {"notification": {"policy": "recall", "target": 0.9}}'
    )
    if not isinstance(per_class, Mapping):
        raise refuse("training", "class_thresholds", _plain(per_class), allowed)
    for name, spec in _plain(per_class).items():
        if not isinstance(spec, Mapping) or set(spec) - {"policy", "target"} or "policy" not in spec:
            raise refuse("training", "class_thresholds", {name: spec}, allowed)
        policy, target = spec["policy"], spec.get("target")
        needs_target = policy in ("precision", "recall")
        target_ok = (
            _is_number(target) and 0 < target <= 1 if needs_target else target is None
        )
        if policy not in ("max_f1", "precision", "recall") or not target_ok:
            raise refuse("training", "class_thresholds", {name: spec}, allowed)


def _plain(value: object) -> object:
    """Mappings and sequences as dicts and lists (luigi hands over frozen ones), for the message."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


#: Grid keys sortbox sets itself.
RESERVED_GRID_KEYS = {
    "random_state": "set by [training] seed",
    "warm_start": "used by the search along the regularisation path",
}


def check_param_grid(grid: Mapping[str, list], option: str = "param_grid") -> None:
    """Every candidate of the grid builds a LogisticRegression that scikit-learn accepts (types,
    ranges, known keys) and that can be fitted (a compatible solver and penalty, class_weight
    keys that are classes): checked on four rows, so a bad candidate stops the run before
    anything is extracted, not in GridSearch hours later."""
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import ParameterGrid

    check_grid_shape(grid, option)
    known = sorted(LogisticRegression().get_params())
    for key in grid:
        if key in RESERVED_GRID_KEYS:
            raise SettingsError(f"[training] {option}: {key!r} cannot be searched ({RESERVED_GRID_KEYS[key]})")
        if key not in known and key not in SELECTION_KEYS:
            raise SettingsError(
                f"[training] {option}: unknown LogisticRegression parameter {key!r} "
                f"(known: {', '.join(k for k in known if k not in RESERVED_GRID_KEYS)}; and sortbox's "
                f"{', '.join(SELECTION_KEYS)})"
            )
    X = np.array([[0.0], [1.0], [0.2], [0.9]])
    y = np.array([0, 1, 0, 1], dtype=np.int8)
    for candidate in ParameterGrid(dict(grid)):
        for key, allowed in SELECTION_KEYS.items():
            value = candidate.get(key)
            if value is not None and not (
                type(value) is bool if key == "scale" else (_is_int(value) and value >= 1)
            ):
                raise SettingsError(f"[training] {option}: {key} = {value!r} is not allowed: must be {allowed}")
        try:
            model = LogisticRegression(**{k: v for k, v in candidate.items() if k not in SELECTION_KEYS})
            model._validate_params()  # types and ranges, with scikit-learn's own message
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("ignore", UserWarning)
                warnings.simplefilter("ignore", FutureWarning)
                model.fit(X, y)  # combinations: solver and penalty, l1_ratio, class_weight
        except (ValueError, TypeError) as exc:
            detail = " ".join(str(exc).split())
            raise SettingsError(
                f"[training] {option}: candidate {dict(candidate)} is refused by LogisticRegression: {detail}"
            ) from None


def check_scoring(scoring: str) -> None:
    """`[training] scoring` names one of scikit-learn's scorers."""
    from sklearn.metrics import get_scorer_names

    names = get_scorer_names()
    if scoring not in names:
        raise refuse(
            "training",
            "scoring",
            scoring,
            "a scikit-learn scorer name such as roc_auc, average_precision, f1, neg_log_loss",
        )
