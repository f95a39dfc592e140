"""sortbox.downstream: a task and everything that requires it, dependents first; nothing upstream or beside."""

import pytest

from sortbox.downstream import UnknownTask, downstream_of

# A small DAG shaped like the training one: Report and Model need Fit (per class) and Label.
REQUIRES = {
    "Pipeline": ["Report", "Model", "Label", "Tokens"],
    "Report": ["Fit(a)", "Fit(b)", "Label"],
    "Model": ["Fit(a)", "Fit(b)", "Lsi"],
    "Fit(a)": ["Label", "Lsi"],
    "Fit(b)": ["Label", "Lsi"],
    "Label": ["Clean"],
    "Lsi": ["Tokens"],
    "Tokens": ["Clean"],
    "Clean": ["Extract"],
    "Extract": [],
}
FAMILY = {task: task.split("(")[0] for task in REQUIRES}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Label", {"Label", "Fit(a)", "Fit(b)", "Report", "Model", "Pipeline"}),
        ("Fit", {"Fit(a)", "Fit(b)", "Report", "Model", "Pipeline"}),
        ("Lsi", {"Lsi", "Fit(a)", "Fit(b)", "Model", "Report", "Pipeline"}),
        ("Pipeline", {"Pipeline"}),
        ("Extract", set(REQUIRES)),
    ],
)
def test_downstream_is_the_task_and_what_requires_it(name, expected):
    order = downstream_of(REQUIRES, FAMILY, name)
    assert set(order) == expected and len(order) == len(expected)
    for position, task in enumerate(order):  # dependents first
        assert not set(REQUIRES[task]) & set(order[:position]), (task, order)


def test_an_unknown_task_is_one_line_naming_the_known_ones():
    with pytest.raises(
        UnknownTask, match=r"^unknown task 'Labels': the DAG has Clean, Extract, Fit, Label, Lsi, Model"
    ):
        downstream_of(REQUIRES, FAMILY, "Labels")
