"""[training] class_thresholds: a class's own threshold policy, over the section's."""

from tasks.config import training


def test_a_class_threshold_policy_overrides_the_sections(luigi_config):
    luigi_config(
        {
            "training": {
                "threshold_policy": "precision",
                "threshold_target": "0.8",
                "class_thresholds": '{"notification": {"policy": "recall", "target": 0.9}, '
                '"ham": {"policy": "max_f1"}}',
            }
        }
    )
    config = training()
    assert config.threshold_for("notification") == ("recall", 0.9)
    assert config.threshold_for("ham") == ("max_f1", None)
    assert config.threshold_for("spam") == ("precision", 0.8)
    assert config.unknown_threshold_classes(["spam", "notification"]) == ["ham"]


def test_without_class_thresholds_every_class_follows_the_section(luigi_config):
    luigi_config({"training": {"class_thresholds": "{}"}})
    config = training()
    for name in ("notification", "personal", "spam"):
        assert config.threshold_for(name) == (config.threshold_policy, config.threshold_target)
    assert config.unknown_threshold_classes(["spam"]) == []
