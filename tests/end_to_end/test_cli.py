"""The luigi command line, as users and cron run it: config pickup, exit codes, no secrets in logs."""
import os
import subprocess

from tests.conftest import LUIGI, REPO_ROOT


def run_cli(args, db_url, tmp_path, **env):
    environment = {k: v for k, v in os.environ.items() if k != "LUIGI_CONFIG_PATH"}
    environment.update({"SORTBOX_DB_URL": db_url, **env})
    return subprocess.run(
        [LUIGI, "--module", "workflows.train", "TrainPipeline", "--local-scheduler", "--run-date", "2026-11-23",
         "--paths-output-root", str(tmp_path / "runs"), "--database-retries", "0", *args],
        cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )


def test_cli_run_uses_project_config_and_succeeds(sample_sqlite, tmp_path):
    small = ["--source-sample-fraction", "0.3", "--lsi-num-topics", "40", "--training-folds", "3"]
    small += ["--training-small-data-param-grid", '{"C": [0.1, 1.0]}', "--training-small-data-cv-repeats", "1"]
    done = run_cli(small, sample_sqlite, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    manifests = list((tmp_path / "runs" / "2026-11-23").glob("TrainPipeline-*/manifest.json"))
    assert len(manifests) == 1
    # config/luigi.cfg was read without LUIGI_CONFIG_PATH: the label column comes from it.
    assert '"label_column": "truth"' in manifests[0].read_text()


def test_cli_failure_exits_non_zero_and_hides_the_url(tiny_sqlite, tmp_path):
    secret_url = tiny_sqlite + "?secret_marker=hunter2"
    done = run_cli(["--source-table", "messages; DROP TABLE messages"], secret_url, tmp_path)
    assert done.returncode == 30, done.stderr[-3000:]  # [retcode] task_failed in config/luigi.cfg
    assert "does not exist in the database" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


def test_luigi_config_path_wins(tiny_sqlite, tmp_path):
    custom = tmp_path / "custom.cfg"
    custom.write_text("[source]\ntable = messages\nid_column = id\ntext_column = body\n[retcode]\ntask_failed = 7\n")
    done = run_cli(["--source-text-column", "missing"], tiny_sqlite, tmp_path, LUIGI_CONFIG_PATH=str(custom))
    assert done.returncode == 7


def test_bad_regex_stops_the_run_before_extraction(tiny_sqlite, tmp_path):
    rules = tmp_path / "labels"
    rules.mkdir()
    (rules / "spam.txt").write_text("\\bwin\\b\n# a comment\n[unclosed\n")
    done = run_cli(["--labelling-rules-dir", str(rules)], tiny_sqlite, tmp_path)
    assert done.returncode != 0
    assert f"{rules}/spam.txt:3: unterminated character set" in done.stderr
    assert not list(tmp_path.rglob("ExtractMessages-*")), "nothing may be extracted"


def test_a_utf16_rule_file_stops_the_run_before_extraction(tiny_sqlite, tmp_path):
    # Saved as UTF-16 without a byte order mark: every other byte a NUL. Hyperscan read "w" alone
    # and labelled most messages spam, exit 0; now the run stops while scheduling (exit 35).
    rules = tmp_path / "labels"
    rules.mkdir()
    (rules / "spam.txt").write_bytes("win\nprize\n".encode("utf-16-le"))
    done = run_cli(["--labelling-rules-dir", str(rules)], tiny_sqlite, tmp_path)
    assert done.returncode == 35
    assert (
        f"{rules}/spam.txt:1: NUL byte (U+0000): not UTF-8 text (UTF-16 saved without a byte order mark?)"
        in done.stderr
    )
    assert not list(tmp_path.rglob("ExtractMessages-*")), "nothing may be extracted"
