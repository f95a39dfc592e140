"""sortbox.drift: thresholds, PSI, KS, samples, profiles and their comparison, on tiny inline data."""

import json

import numpy as np
import pytest

from sortbox.drift import (
    HISTOGRAM_BINS,
    MEASURES,
    NOT_COMPARED,
    Limits,
    bin_shares,
    compare_profiles,
    ks_statistic,
    model_statistics,
    night_profile,
    population_stability_index,
    sample_rows,
    score_summary,
    worst_status,
)
from sortbox.export import build_model, model_json_bytes
from sortbox.textnorm import default_cleaning_spec
from sortbox.wordlists import DEFAULT_TOKEN_PATTERN

LIMITS = {name: limits for name, (_, limits) in MEASURES.items()}


@pytest.mark.parametrize(
    "value, status", [(0.0, "ok"), (0.099, "ok"), (0.1, "warn"), (-0.2, "warn"), (0.25, "alert"), (-3.0, "alert")]
)
def test_limits_status(value, status):
    assert Limits(0.1, 0.25).status(value) == status


@pytest.mark.parametrize("warn, alert", [(0.3, 0.2), (-0.1, 0.2)])
def test_limits_reject_bad_thresholds(warn, alert):
    with pytest.raises(ValueError, match="0 <= warn <= alert"):
        Limits(warn, alert)


@pytest.mark.parametrize(
    "statuses, worst", [(["ok", "warn", "ok"], "warn"), (["alert", "ok"], "alert"), (["ok"], "ok"), ([], NOT_COMPARED)]
)
def test_worst_status(statuses, worst):
    assert worst_status(statuses) == worst


def test_bin_shares_and_psi():
    shares = bin_shares(np.array([0.05, 0.15, 0.25, 0.35]), [0.1, 0.2, 0.3])
    assert shares.tolist() == [0.25, 0.25, 0.25, 0.25]
    assert population_stability_index(shares, shares) == 0.0
    # (0.7 - 0.25) ln(0.7 / 0.25) + 3 * (0.1 - 0.25) ln(0.1 / 0.25), to 1e-12
    expected = 0.45 * np.log(0.7 / 0.25) + 3 * (-0.15) * np.log(0.1 / 0.25)
    assert population_stability_index(shares, [0.7, 0.1, 0.1, 0.1]) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="same bins"):
        population_stability_index([0.5, 0.5], [1.0])


def test_ks_statistic_on_histograms():
    a = [1, 1, 0, 0]
    assert ks_statistic(a, a) == 0.0
    assert ks_statistic(a, [0, 0, 1, 1]) == 1.0
    assert ks_statistic([2, 0, 0, 2], [1, 1, 1, 1]) == pytest.approx(0.25)
    assert ks_statistic([0, 0], [1, 1]) == 0.0  # an empty side: nothing to compare


def test_sample_rows_is_order_free_and_bounded():
    ids = [str(i) for i in range(50)]
    rows = sample_rows(ids, max_rows=10)
    assert len(rows) == 10 and list(rows) == sorted(rows)
    reversed_rows = sample_rows(ids[::-1], max_rows=10)
    assert sorted(ids[i] for i in rows) == sorted(ids[::-1][i] for i in reversed_rows)
    assert sample_rows(ids[:5], max_rows=10).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="at least 1"):
        sample_rows(ids, max_rows=0)


def test_score_summary_deciles_split_the_scores_in_tenths():
    scores = np.linspace(0.005, 0.995, 100)
    summary = score_summary(scores)
    assert len(summary["deciles"]) == 9 and summary["scored"] == 100
    assert summary["decile_shares"] == pytest.approx([0.1] * 10)
    assert sum(summary["histogram"]) == 100 and len(summary["histogram"]) == HISTOGRAM_BINS


def tiny_model() -> dict:
    """A valid one-class model JSON over three words (win, prize, lunch: indices 0, 1, 2), built as
    the export builds one, so that it passes the model-file checks every reader applies."""
    model = build_model(
        run_date="2026-01-01",
        cleaning_spec=default_cleaning_spec(lowercase=True, digits="zero", normalization="NFKC"),
        max_chars=100,
        quarantine_controls=True,
        token_pattern=DEFAULT_TOKEN_PATTERN,
        stopwords=["the"],
        stemmer=None,
        vocabulary=["win", "prize", "lunch"],
        surface_forms={"win": "win", "prize": "prize", "lunch": "lunch"},
        idf=np.ones(3),
        basis=np.eye(3),
        classifiers={
            "spam": {
                "status": "trained",
                "coef": [3.0, 3.0, -3.0],
                "intercept": 0.0,
                "threshold": {"threshold": 0.5, "policy": "max_f1"},
                "roc_auc": 0.9,
            }
        },
    )
    return json.loads(model_json_bytes(model))


def test_model_statistics_counts_unknown_words_and_unscorable_rows():
    texts = ["win the prize", "lunch today", "nothing known", None, "x" * 200]
    seen = []
    stats, scores = model_statistics(tiny_model(), texts, progress=lambda done, total: seen.append((done, total)))
    spam = stats["spam"]
    # words (stopword "the" excluded): win prize | lunch today | nothing known -> 6, unknown: today nothing known
    assert (spam["rows"], spam["words"], spam["unknown_words"]) == (5, 6, 3)
    assert spam["unscorable"] == 3 and spam["scored"] == 2  # "nothing known", None, too long
    assert scores["spam"][0] > 0.9 and scores["spam"][1] < 0.1
    assert seen[-1] == (5, 5)
    json.dumps(stats)  # plain JSON data


def profile(
    *, extracted=1000, quarantined=10, spam=130, hits=120, unknown=50, unscorable=5, scores=None
) -> tuple[dict, np.ndarray]:
    scores = np.linspace(0.01, 0.99, 99) if scores is None else scores
    stats = {"rows": 1000, "words": 1000, "unknown_words": unknown, "unscorable": unscorable, **score_summary(scores)}
    return night_profile(
        extracted=extracted,
        quarantine_reasons={"empty": quarantined},
        label_messages=extracted - quarantined,
        label_counts={"spam": spam},
        rules=[{"rule_id": "spam:1", "class": "spam", "hits": hits}, {"rule_id": "spam:2", "class": "spam", "hits": 3}],
        models={"spam": stats},
    ), scores


def test_compare_unchanged_profiles_is_ok():
    live, _ = profile()
    tonight, scores = profile(extracted=1010, spam=133)
    report = compare_profiles(
        live,
        tonight,
        {"spam": scores},
        {"spam": {"challenger_roc_auc": 0.98, "champion_roc_auc": 0.985}},
        limits=LIMITS,
    )
    assert report["status"] == "ok", [m for m in report["measures"] if m["status"] != "ok"]
    assert {m["measure"] for m in report["measures"]} == set(MEASURES)


def test_compare_shifted_profile_alerts_on_what_moved():
    live, _ = profile()
    shifted_scores = np.concatenate([np.linspace(0.01, 0.99, 99), np.full(200, 0.97)])
    tonight, scores = profile(spam=390, hits=360, unknown=250, scores=shifted_scores)
    report = compare_profiles(live, tonight, {"spam": scores}, {}, limits=LIMITS)
    assert report["status"] == "alert"
    alerts = {(m["measure"], m["subject"]) for m in report["measures"] if m["status"] == "alert"}
    assert alerts == {
        ("label_share", "spam"),
        ("rule_hit_rate", "spam:1"),
        ("unknown_word_share", "spam"),
        ("score_psi", "spam"),
        ("score_ks", "spam"),
    }
    assert report["details"]["rule_movers"][0]["rule_id"] == "spam:1"


def test_compare_reports_auc_drop():
    live, scores = profile()
    report = compare_profiles(
        live, live, {"spam": scores}, {"spam": {"challenger_roc_auc": 0.90, "champion_roc_auc": 0.98}}, limits=LIMITS
    )
    drop = next(m for m in report["measures"] if m["measure"] == "auc_drop")
    assert drop["status"] == "alert" and drop["value"] == pytest.approx(0.08)


def test_model_statistics_counts_the_training_night_leave_one_out():
    # Trained on these texts: "lunch" made the vocabulary (count 2, minimum 2) only thanks to this
    # message's occurrence, so without it the model would not know it: unknown, as on a new night.
    texts = ["win win prize", "prize lunch"]
    stats, _ = model_statistics(tiny_model(), texts)
    assert stats["spam"]["unknown_words"] == 0
    stats, _ = model_statistics(tiny_model(), texts, term_counts=[5, 3, 2], min_count=2)
    assert (stats["spam"]["words"], stats["spam"]["unknown_words"]) == (5, 1)


def test_drift_page_embeds_its_plots_and_says_why_when_nothing_is_compared():
    from sortbox.drift_report import render_drift_report

    live, _ = profile()
    tonight, scores = profile(spam=390, hits=360)
    report = {
        "night": "2026-01-14",
        "live_release": "2026-01-07-abc",
        "live_night": "2026-01-07",
        "profiled_rows": 99,
        **compare_profiles(live, tonight, {"spam": scores}, {}, limits=LIMITS),
    }
    page = render_drift_report(report, training_report_href="../TrainingReport-x/report.html")
    assert "Drift report: <span class='badge'" in page and ">alert</span>" in page
    assert page.count("src='data:image/png;base64,") == 3  # spam's scores, the label mix, the rule movers
    assert "href='../TrainingReport-x/report.html'" in page and "http" not in page
    empty = render_drift_report(
        {
            "night": "2026-01-07",
            "status": NOT_COMPARED,
            "note": "Nothing to compare with: no release is live yet.",
            "measures": [],
        }
    )
    assert "no release is live yet" in empty and "<img" not in empty
