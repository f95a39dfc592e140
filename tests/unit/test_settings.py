"""sortbox.settings: every rule of the table refuses its bad values with one line naming the option."""

import pytest

from sortbox.settings import RULES, SettingsError, check_grid_shape, check_param_grid, check_scoring, check_section

BAD_VALUES = [
    ("database", "retries", -1),
    ("database", "retry_delay_seconds", float("nan")),
    ("database", "statement_timeout_seconds", -5.0),
    ("source", "sample_fraction", 0.0),
    ("source", "sample_fraction", 1.5),
    ("source", "chunk_size", 0),
    ("source", "label_separator", ""),
    ("cleaning", "unicode_normalization", "NFX"),
    ("cleaning", "max_chars", 0),
    ("tokenize", "min_word_frequency", 0),
    ("dictionary", "no_above", 0.0),
    ("dictionary", "keep_n", 0),
    ("lsi", "num_topics", 0),
    ("lsi", "power_iters", -1),
    ("lsi", "seed", 2**32),
    ("lsi", "chunk_size", 0),
    ("training", "folds", 1),
    ("training", "seed", -1),
    ("training", "n_jobs", 0),
    ("training", "threshold_target", 1.5),
    ("training", "holdout_fraction", 1.0),
    ("training", "holdout_fraction", -0.1),
    ("training", "max_rows", 0),
    ("training", "small_data_cv_repeats", 0),
    ("publish", "keep", 0),
    ("publish", "margin", float("inf")),
    ("publish", "root", ""),
    ("paths", "output_root", ""),
    ("shards", "count", 0),
    ("shards", "count", 4097),
]


@pytest.mark.parametrize("section, option, value", BAD_VALUES, ids=lambda v: str(v))
def test_a_bad_value_is_refused_naming_the_option_and_what_is_allowed(section, option, value):
    with pytest.raises(SettingsError, match=rf"^\[{section}\] {option} = .* is not allowed: must be ") as refused:
        check_section(section, {option: value})
    assert "\n" not in str(refused.value)


def test_every_rule_accepts_the_shipped_defaults():
    from tasks.config import check_settings

    check_settings()  # config/luigi.cfg as shipped
    assert {section for section, _, _ in BAD_VALUES} == set(RULES)


def test_a_precision_policy_needs_a_target():
    with pytest.raises(
        SettingsError, match=r"\[training\] threshold_target = None .* when threshold_policy = precision"
    ):
        check_section("training", {"threshold_policy": "precision", "threshold_target": None})
    check_section("training", {"threshold_policy": "precision", "threshold_target": 0.9})



@pytest.mark.parametrize(
    "per_class",
    [
        ["notification"],
        {"notification": "recall"},
        {"notification": {"target": 0.9}},
        {"notification": {"policy": "recall"}},
        {"notification": {"policy": "recall", "target": 0}},
        {"notification": {"policy": "recall", "target": 1.5}},
        {"notification": {"policy": "recall", "target": True}},
        {"notification": {"policy": "recall", "target": float("nan")}},
        {"notification": {"policy": "max_f1", "target": 0.9}},
        {"notification": {"policy": "best", "target": 0.9}},
        {"notification": {"policy": "recall", "target": 0.9, "seed": 1}},
    ],
)
def test_bad_class_thresholds_are_refused_naming_the_option(per_class):
    refused = r"^\[training\] class_thresholds = .* is not allowed: must be a JSON object"
    with pytest.raises(SettingsError, match=refused):
        check_section("training", {"class_thresholds": per_class})


def test_good_class_thresholds_pass():
    check_section(
        "training",
        {
            "class_thresholds": {
                "notification": {"policy": "recall", "target": 0.9},
                "spam": {"policy": "precision", "target": 1},
                "personal": {"policy": "max_f1"},
            }
        },
    )

@pytest.mark.parametrize(
    "grid, message",
    [
        (
            {"C": [-1.0]},
            r"candidate \{'C': -1.0\} is refused by LogisticRegression: "
            r"The 'C' parameter .* must be a float in the range \(0.0, inf\]",
        ),
        ({"C": ["big"]}, r"The 'C' parameter of LogisticRegression must be a float"),
        ({"penalty": ["l3"]}, r"The 'penalty' parameter of LogisticRegression must be a str among"),
        (
            {"penalty": ["l1"], "solver": ["lbfgs"]},
            r"Solver lbfgs supports only 'l2' or None penalties, got l1 penalty",
        ),
        ({"dual": [True], "solver": ["lbfgs"]}, r"Solver lbfgs supports only dual=False, got dual=True"),
        ({"class_weight": [{"1": 3}]}, r"The classes, \[0, 1\], are not in class_weight"),
        ({"Cee": [1.0]}, r"unknown LogisticRegression parameter 'Cee' \(known: C, class_weight, "),
        ({"random_state": [1]}, r"'random_state' cannot be searched \(set by \[training\] seed\)"),
        ({"C": 1.0}, r"must be a JSON object of LogisticRegression parameter -> non-empty list"),
        ({"C": []}, r"non-empty list"),
    ],
)
def test_every_grid_candidate_must_be_a_logistic_regression_that_fits(grid, message):
    with pytest.raises(SettingsError, match=message):
        check_param_grid(grid)


def test_good_grids_pass():
    check_param_grid({"C": [0.1, 1.0, 10.0], "class_weight": [None, "balanced"], "max_iter": [500]})
    check_param_grid({"penalty": ["elasticnet"], "solver": ["saga"], "l1_ratio": [0.5]})
    check_grid_shape({})


def test_an_unknown_scorer_is_refused():
    with pytest.raises(SettingsError, match=r"\[training\] scoring = 'rocauc' is not allowed"):
        check_scoring("rocauc")
    check_scoring("average_precision")
