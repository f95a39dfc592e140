"""What an invalidation removes: a task and everything downstream of it, over a plain graph.

The graph is what workflows/invalidate.py reads from luigi (each task's `requires()` and the
dependencies its `run()` yields): task id -> the task ids it requires. Nothing here knows luigi.
"""

from __future__ import annotations

from typing import Mapping, Sequence


class UnknownTask(ValueError):
    """The task name is not a task of the DAG: one line listing the ones that are."""


def downstream_of(requires: Mapping[str, Sequence[str]], family: Mapping[str, str], name: str) -> list[str]:
    """The task ids of family `name` and of every task that requires one of them, directly or not.

    `requires`: task id -> ids it requires (every task of the DAG is a key); `family`: task id ->
    its task name. Ordered dependents first (a task before anything it requires), so that removing
    outputs in this order never leaves a complete output whose upstream is already gone.
    Raises UnknownTask when no task of the DAG is called `name`.
    """
    seeds = {task for task in requires if family[task] == name}
    if not seeds:
        known = ", ".join(sorted({family[task] for task in requires}))
        raise UnknownTask(f"unknown task {name!r}: the DAG has {known}")
    dependents: dict[str, set[str]] = {task: set() for task in requires}
    for task, needs in requires.items():
        for need in needs:
            dependents.setdefault(need, set()).add(task)
    found, stack = set(seeds), list(seeds)
    while stack:
        for dependent in dependents.get(stack.pop(), ()):
            if dependent not in found:
                found.add(dependent)
                stack.append(dependent)
    return _dependents_first({task: [n for n in requires.get(task, ()) if n in found] for task in found})


def _dependents_first(requires: Mapping[str, Sequence[str]]) -> list[str]:
    """Topological order, every task before the tasks it requires (ties by id: deterministic)."""
    waiting = {task: 0 for task in requires}
    for needs in requires.values():
        for need in needs:
            waiting[need] += 1
    ready = sorted(task for task, count in waiting.items() if count == 0)
    order = []
    while ready:
        task = ready.pop(0)
        order.append(task)
        for need in requires[task]:
            waiting[need] -= 1
            if waiting[need] == 0:
                ready.append(need)
        ready.sort()
    if len(order) != len(requires):
        raise ValueError("the task graph has a cycle")
    return order
