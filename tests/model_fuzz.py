"""Mutated model files for the fuzz tests (tests/unit/test_model_file.py, tests/tasks/test_score_tasks.py),
and the loop that runs the portable scorer over many of them in one process.

`mutations(model, count, seed)` yields (kind, bytes) pairs: wrong types, NaN/Infinity, huge and
deeply nested values, hostile tokenizer patterns, truncation, byte edits, broken structure, and
harmless edits that leave a valid model. Deterministic for a seed.
"""
from __future__ import annotations

import contextlib
import io
import json
import random
import sys
import time
import traceback

HOSTILE_PATTERNS = [
    "(a+)+$",
    r"(\w+\s?)+$",
    "(x+x+)+y",
    "^(a|aa)+$",
    "(.*a){25}",
    r"(\w|\w)+!",
    "(",
    "\\",
    "[",
    "(?P<x>",
    "",
    ".",
    r"\w+",
    r"\w+(?:'\w+)*|[$£€¥]|(a+)+$",
    r"(?:\w+(?:'\w+)*|[$£€¥])",
    r"\w+(?:'\w+)*|[$£€¥] ",
    "(?i)" + r"\w+(?:'\w+)*|[$£€¥]",
]
TYPE_VALUES = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2,
    1.0,
    0.5,
    -1e308,
    1e308,
    "",
    "x",
    "1",
    "logistic",
    [],
    [0],
    [[0, 1]],
    {},
    {"a": 1},
    {"spam": {}},
]
NONFINITE = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"]
KINDS = ("type", "nonfinite", "huge", "deep", "pattern", "truncate", "bytes", "structure", "valid")


def _paths(model) -> list[tuple]:
    """The path (keys and indices) of every value in the model, the root excluded; each top-level
    key weighs the same (removed_ranges alone holds most of the values)."""
    paths, stack = [], [((), model)]
    while stack:
        path, value = stack.pop()
        if path:
            paths.append(path)
        if isinstance(value, dict):
            stack += [((*path, key), child) for key, child in value.items()]
        elif isinstance(value, list):
            stack += [((*path, index), child) for index, child in enumerate(value)]
    groups: dict[str, list[tuple]] = {}
    for path in sorted(paths, key=repr):
        groups.setdefault(path[0], []).append(path)
    largest = max(map(len, groups.values()))
    return [group[i % len(group)] for group in groups.values() for i in range(largest)]


def _replace(model, path: tuple, value):
    """`model` with the value at `path` replaced (the containers on the path are copied, the rest shared)."""
    if not path:
        return value
    copy = model.copy()
    copy[path[0]] = _replace(model[path[0]], path[1:], value)
    return copy


def _dumps(model) -> bytes:
    return json.dumps(model, sort_keys=True, separators=(",", ":")).encode()


def _with_raw(model, path: tuple, raw: str) -> bytes:
    """The model's JSON with the value at `path` written as the raw JSON text `raw`."""
    marker = "@@RAW@@"
    return _dumps(_replace(model, path, marker)).replace(f'"{marker}"'.encode(), raw.encode(), 1)


def _number_paths(paths: list[tuple], model) -> list[tuple]:
    """The paths of the numbers (not booleans) among `paths`."""
    numbers = []
    for path in paths:
        node = model
        for key in path:
            node = node[key]
        if type(node) in (int, float):
            numbers.append(path)
    return numbers


def _mutate(kind: str, model, base: bytes, paths: list[tuple], numbers: list[tuple], rng: random.Random) -> bytes:
    if kind == "type":
        return _dumps(_replace(model, rng.choice(paths), rng.choice(TYPE_VALUES)))
    if kind == "nonfinite":
        return _with_raw(model, rng.choice(numbers), rng.choice(NONFINITE))
    if kind == "huge":
        path = rng.choice(paths)
        choice = rng.randrange(5)
        if choice == 0:
            return _dumps(_replace(model, path, "w" * rng.choice([20_000, 150_000])))
        if choice == 1:
            return _dumps(_replace(model, path, [0.5] * rng.choice([5, 50_000])))
        if choice == 2:
            return _with_raw(model, path, "9" * rng.choice([400, 5_000]))  # over Python's 4,300-digit limit
        if choice == 3:
            return _dumps(_replace(model, path, {f"k{i}": i for i in range(rng.choice([10, 20_000]))}))
        return _with_raw(model, path, rng.choice(["1e308", "-1e308", "123456789012345678901234567890"]))
    if kind == "deep":
        depth = rng.choice([3, 50, 900, 5_000, 100_000])
        opening, closing = rng.choice([("[", "]"), ('{"a":', "}")])
        return _with_raw(model, rng.choice(paths), opening * depth + "0" + closing * depth)
    if kind == "pattern":
        return _dumps(_replace(model, ("tokenizer", "pattern"), rng.choice(HOSTILE_PATTERNS)))
    if kind == "truncate":
        return base[: rng.randrange(len(base))]
    if kind == "bytes":
        data = bytearray(base)
        for _ in range(rng.randint(1, 5)):
            position = rng.randrange(len(data))
            edit = rng.randrange(3)
            if edit == 0:
                data[position] = rng.choice(
                    [0, 0xFF, 0x80, ord('"'), ord("{"), ord("]"), ord(","), ord("\\"), rng.randrange(256)]
                )
            elif edit == 1:
                data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
            else:
                del data[position:position + rng.randint(1, 20)]
        return bytes(data)
    if kind == "structure":
        choice = rng.randrange(8)
        copy = json.loads(base)
        if choice == 0:  # a key missing
            path = rng.choice([p for p in paths if isinstance(p[-1], str)])
            target = copy
            for key in path[:-1]:
                target = target[key]
            del target[path[-1]]
            return _dumps(copy)
        if choice == 1:  # an unknown key
            return _dumps({**copy, rng.choice(["extra", "__proto__", "golden2"]): 1})
        name = sorted(copy["classes"])[0]
        if choice == 2:  # weights one too many or too few
            weights = copy["classes"][name]["weights"]
            copy["classes"][name]["weights"] = weights[:-1] if rng.random() < 0.5 else weights + [0.1]
            return _dumps(copy)
        if choice == 3:  # a surface form pointing outside the vocabulary
            word = rng.choice(sorted(copy["terms"]["surface_forms"]))
            copy["terms"]["surface_forms"][word] = rng.choice([len(copy["idf"]), -1, 10**9, True, 1.0, "0"])
            return _dumps(copy)
        if choice == 4:  # a class name that would smuggle a line or a formula into scores.csv
            copy["classes"][rng.choice(["sp\nam", "=cmd", "", "a,b", "x" * 300])] = copy["classes"].pop(name)
            return _dumps(copy)
        if choice == 5:  # a key twice
            return base.replace(b'"schema_version":2', b'"schema_version":2,"schema_version":2', 1)
        if choice == 6:  # removed ranges out of order, or below U+0080
            ranges = copy["cleaning"]["removed_ranges"]
            copy["cleaning"]["removed_ranges"] = ranges[::-1] if rng.random() < 0.5 else [[0x41, 0x5A]] + ranges
            return _dumps(copy)
        copy["schema_version"] = rng.choice([True, "2", 2.0, 3, 0, None])
        return _dumps(copy)
    # valid: a number changed to another finite one of its kind, or a harmless reordering
    path = rng.choice([p for p in numbers if p[0] in ("idf", "classes")])
    node = model
    for key in path:
        node = node[key]
    value = (
        abs(node) * rng.uniform(0.5, 2)
        if path[0] == "idf" or path[-1] in ("threshold", "cv_roc_auc")
        else node * rng.uniform(-3, 3)
    )
    return _dumps(_replace(model, path, min(value, 1.0) if path[-1] in ("threshold", "cv_roc_auc") else value))


def small_unicode_tables(model: dict, *, below: int = 0x250) -> dict:
    """`model` with its unicode tables cut to the code points below `below`: still valid, and
    about 3 KB instead of 120 KB, so that two thousand fuzzed files stay quick to write and read."""
    from sortbox.unicode_tables import format_mappings, format_ranges, parse_classes, parse_mappings, parse_ranges

    tables = dict(model["unicode"])
    for key in ("decompositions", "lowercase", "compositions"):
        entries = [[*k, *v] for k, v in parse_mappings(tables[key]) if k[0] < below]
        tables[key] = format_mappings(entries, key_width=2 if key == "compositions" else 1)
    tables["combining_classes"] = ",".join(
        (f"{a:04X}" if a == b else f"{a:04X}-{b:04X}") + f":{c}"
        for a, b, c in parse_classes(tables["combining_classes"])
        if b < below
    )
    for key in ("cased", "case_ignorable", "word", "white_space", "decimal_digits"):
        tables[key] = format_ranges([r for r in parse_ranges(tables[key]) if r[1] < below])
    return {**model, "unicode": tables}


def mutations(model: dict, count: int, *, seed: int = 0) -> list[tuple[str, bytes]]:
    """`count` mutated model files as (kind, bytes), the kinds in turn (of `model` with small
    unicode tables: `small_unicode_tables`)."""
    model = small_unicode_tables(model) if "unicode" in model else model
    rng = random.Random(seed)
    base = _dumps(model)
    paths = _paths(model)
    numbers = _number_paths(paths, model)
    return [
        (kind, _mutate(kind, model, base, paths, numbers, rng))
        for kind in (KINDS[i % len(KINDS)] for i in range(count))
    ]


def score_many(model_paths: list[str], messages: str) -> None:
    """Run the portable scorer's main() on each model file in this process; print one JSON line per
    file (exit code, CPU seconds, stderr lines, or the traceback of an exception that escaped).

    CPU seconds, not wall seconds: the bound is on the work a file can cause, which a loaded machine
    does not change (wall time on a shared 2-core machine varied threefold)."""
    from sortbox.portable_scorer import main

    for path in model_paths:
        print(json.dumps({"start": path}), flush=True)
        out, err = io.StringIO(), io.StringIO()
        started = time.process_time()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main([path, messages])
            escaped = None
        except BaseException:  # anything escaping main() is a failure the test reports
            code, escaped = None, traceback.format_exc()
        print(
            json.dumps(
                {
                    "path": path,
                    "code": code,
                    "cpu_seconds": time.process_time() - started,
                    "stderr": err.getvalue().splitlines(),
                    "escaped": escaped,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    score_many(json.loads(sys.stdin.read()), sys.argv[1])
