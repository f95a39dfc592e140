"""Per class: GridSearch -> CrossValidate -> FitClassifier, fanned out by TrainClassifiers.

A class that cannot be cross-validated (fewer positives or negatives than folds) is skipped with
its reason at every step; the other classes go on and the run still succeeds.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import luigi
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sortbox.checkpoint import read_json, write_json
from sortbox.model_selection import (
    SearchPlan,
    class_target_arrow,
    fit_final,
    fit_split,
    linear_form,
    search_plan,
    select_candidate,
    untrainable_reason,
)
from sortbox.settings import check_param_grid, check_scoring
from sortbox.validation import validation_figures
from tasks.base import Artifact, SortboxTask
from tasks.config import labelling, source, training
from tasks.embed import EmbedMessages
from tasks.label import LabelMessages

logger = logging.getLogger("luigi-interface")


# Every class's grid-search folds, cross-validation and final fit read the same training sample:
# with one worker luigi runs them all in one process, so the last sample read is kept (one entry,
# keyed by the files' identity: a finished output never changes in place, a rerun writes new
# files). With several workers each task runs in a process of its own: the sample's labels are a
# small file of their own (EmbedMessages picks them) and the features are mapped, not copied, so
# the processes share the pages of one file in the page cache.
def _file_identity(path) -> tuple[str, int, int, int]:
    stat = Path(path).stat()
    return str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=1)
def _sample_labels(labels: tuple) -> pa.Table:
    """The label lists and truth cells of the training sample's rows, in the sample's order."""
    return pq.read_table(labels[0], columns=["labels", "truth"])


def training_sample_labels(task: SortboxTask) -> pa.Table:
    """The sample's labels (columns labels, truth) of `task`, which requires EmbedMessages as "features"."""
    return _sample_labels(_file_identity(task.input_path("features", "labels")))


@functools.lru_cache(maxsize=1)
def _training_features(features: tuple) -> np.ndarray:
    return np.load(features[0], mmap_mode="r")  # read-only: shared between tasks, nobody may change it


#: luigi's priority of the training and of everything it needs (the scheduler raises a task's
#: dependencies to its own priority): with `--workers N`, a worker that may choose runs those
#: first, and the steps that only the end of the run needs (ExtractMessages and CleanMessages,
#: concatenating the shards; the rule report) fill the moments when the training's path leaves a
#: worker idle (the LSI, the training sample, the per-class chains being yielded), instead of
#: holding back the next shard.
TRAINING_PRIORITY = 10


class ClassTask(SortboxTask):
    """A task about one class; reads the LSI features and that class's labels."""

    class_name = luigi.Parameter(description="The class (label) this task is about.")
    reads = (training,)
    priority = TRAINING_PRIORITY

    def path_label(self) -> str:
        return self.class_name

    def class_targets(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(y, truth y or None) over the training sample chosen by EmbedMessages."""
        sample = training_sample_labels(self)
        y = class_target_arrow(sample.column("labels"), self.class_name)
        truth_cells = sample.column("truth")  # all missing when the source has no label column
        truth = None if truth_cells.null_count == len(truth_cells) else class_target_arrow(truth_cells, self.class_name)
        return y, truth

    def features(self) -> np.ndarray:
        """The training sample's LSI features (at most [training] max_rows rows), read-only."""
        return _training_features(_file_identity(self.input_path("features", "features")))

    def skipped(self, upstream: dict) -> bool:
        return upstream.get("status") == "skipped"


def class_search_plan(y: np.ndarray) -> SearchPlan:
    """The grid search of one class on its training sample's labels `y`, as [training] sets it
    (the grid and the repeats depend on how many messages there are)."""
    config = training()
    return search_plan(
        y,
        param_grid=config.grid(len(y)),
        folds=config.folds,
        repeats=config.cv_repeats(len(y)),
        random_state=config.seed,
    )


def skip_reason(class_name: str, y: np.ndarray, labels_summary: dict, folds: int) -> str | None:
    """Why a class is not searched (no rule; too few positives or negatives for the folds), or None."""
    return labels_summary.get("classes_without_rules", {}).get(class_name) or untrainable_reason(y, folds)


class GridSearchFold(ClassTask):
    """One fold of one class's grid search (sortbox.model_selection.fit_split), in every drawing
    of the folds (`[training] small_data_cv_repeats` on small data, else one): every candidate
    fitted on the split's training rows and scored on its test rows. Each fold is its own task, so
    `--workers N` fits N folds at once. Output: folds.json (per split, each candidate's score and
    fit seconds), probabilities-<split>.npy (candidates x the split's test rows)."""

    fold = luigi.IntParameter(description="The fold of the class's grid search (0 to [training] folds - 1).")
    # Before their GridSearch, which then finds them done and runs once instead of twice.
    priority = TRAINING_PRIORITY + 1
    artifacts = {
        "folds": Artifact("folds.json", read_json),
        "probabilities": Artifact("probabilities-{split}.npy", np.load),
    }

    def requires(self):
        return {"features": EmbedMessages(**self.same_run()), "labels": LabelMessages(**self.same_run())}

    def path_label(self) -> str:
        return f"{self.class_name}-fold{self.fold}"

    def run(self):
        config = training()
        y, _ = self.class_targets()
        plan = class_search_plan(y)
        splits = list(range(self.fold, len(plan.splits), plan.folds))  # this fold of every drawing
        features, fitted = self.features(), []
        for number, split in enumerate(splits):
            self.report_progress(number, len(splits), f"{self.class_name}: fold {self.fold}, drawing {number + 1}")
            results = fit_split(
                features, y, plan, split, scoring=config.scoring, random_state=config.seed, n_jobs=config.n_jobs
            )
            fitted.append((split, results))
        with self.atomic_output() as out:
            for split, results in fitted:
                probabilities = np.stack([probabilities for _, probabilities, _ in results])
                np.save(out / self.artifact("probabilities", split=str(split)), probabilities)
            write_json(
                out / self.artifact("folds"),
                [
                    {"split": split, "candidates": [{"score": score, "fit_seconds": t} for score, _, t in results]}
                    for split, results in fitted
                ],
            )
        self.report_progress(1, 1, f"{self.class_name}: fold {self.fold} fitted")


class GridSearch(ClassTask):
    """Output: grid.json (best parameters and the whole grid) and oof_scores.npy (the best
    candidate's out-of-fold probabilities, from the fold models the search fitted), or the reason
    the class is skipped. The fits are its folds' (GridSearchFold, yielded as dynamic
    dependencies); this task picks the best candidate from them."""

    artifacts = {"grid": Artifact("grid.json", read_json), "oof_scores": Artifact("oof_scores.npy", np.load)}

    def requires(self):
        return {"features": EmbedMessages(**self.same_run()), "labels": LabelMessages(**self.same_run())}

    def run(self):
        config = training()
        y, _ = self.class_targets()
        counts = {"positives": int(y.sum()), "negatives": int(len(y) - y.sum())}
        reason = skip_reason(self.class_name, y, self.read_input("labels", "summary"), config.folds)
        plan = None if reason else class_search_plan(y)
        # Always exactly one yield (none to wait for when skipped), before anything is written:
        # workflows.invalidate drives run() up to it to learn the folds.
        folds = yield [
            GridSearchFold(**self.same_run(), class_name=self.class_name, fold=fold)
            for fold in range(config.folds if plan else 0)
        ]
        if reason:
            self.set_status_message(f"skipped: {reason}")
            logger.warning("class %r skipped: %s", self.class_name, reason)
            with self.atomic_output() as out:
                write_json(out / self.artifact("grid"), {"status": "skipped", "reason": reason, **counts})
            return
        self.set_status_message(f"{self.class_name}: the best of {len(plan.candidates)} candidates")
        runs = {}
        for target in folds:
            directory = Path(target.path)
            for entry in read_json(directory / GridSearchFold.artifact("folds")):
                split = entry["split"]
                probabilities = np.load(directory / GridSearchFold.artifact("probabilities", split=str(split)))
                for index, candidate in enumerate(entry["candidates"]):
                    runs[index, split] = (candidate["score"], probabilities[index], candidate["fit_seconds"])
        search, out_of_fold = select_candidate(plan, y, runs, scoring=config.scoring)
        if search["edge_warning"]:
            logger.warning("class %r: %s", self.class_name, search["edge_warning"])
        with self.atomic_output() as out:
            np.save(out / self.artifact("oof_scores"), out_of_fold)
            write_json(
                out / self.artifact("grid"),
                {"status": "searched", **counts, "param_grid": config.grid(len(y)), "folds": config.folds, **search},
            )
        self.report_progress(1, 1, f"{self.class_name}: best {search['best_params']}")


class CrossValidate(ClassTask):
    """Output: cv.json (ROC AUC, PR AUC, threshold, curves; against the truth column too when there
    is one) and oof_scores.npy, for the best parameters of the grid search: judged on the
    out-of-fold scores of the search's own fold models (no model is fitted again)."""

    reads = (training, (labelling, ("source",)), (source, ("label_column",)))
    artifacts = {"cv": Artifact("cv.json", read_json), "oof_scores": Artifact("oof_scores.npy", np.load)}

    def requires(self):
        return {
            "grid": GridSearch(**self.same_run(), class_name=self.class_name),
            "features": EmbedMessages(**self.same_run()),
            "labels": LabelMessages(**self.same_run()),
        }

    def run(self):
        config = training()
        grid = self.read_input("grid", "grid")
        with self.atomic_output() as out:
            if self.skipped(grid):
                write_json(out / self.artifact("cv"), grid)
                return
            y, truth = self.class_targets()
            self.report_progress(
                0, 1, f"{self.class_name}: threshold and figures from {config.folds}-fold out-of-fold scores"
            )
            scores = self.read_input("grid", "oof_scores")
            column = source().label_column
            policy, target = config.threshold_for(self.class_name)
            result = validation_figures(
                y, scores, truth=truth, best_params=grid["best_params"], folds=config.folds, seed=config.seed,
                threshold_policy=policy, threshold_target=target,
                measured_against="rule labels" if labelling().source == "rules" else f"label column {column}",
                truth_column=column,
            )  # fmt: skip
            np.save(out / self.artifact("oof_scores"), scores.astype(np.float64))
            write_json(out / self.artifact("cv"), result)
        self.report_progress(1, 1, f"{self.class_name}: validated")


class FitClassifier(ClassTask):
    """Output: classifier.json (linear weights in LSI space, intercept, threshold, CV figures) and
    pipeline.joblib (the fitted scikit-learn pipeline: an internal checkpoint, never published)."""

    artifacts = {"classifier": Artifact("classifier.json", read_json), "pipeline": Artifact("pipeline.joblib")}

    def requires(self):
        return {
            "cv": CrossValidate(**self.same_run(), class_name=self.class_name),
            "features": EmbedMessages(**self.same_run()),
            "labels": LabelMessages(**self.same_run()),
        }

    def run(self):
        cv = self.read_input("cv", "cv")
        with self.atomic_output() as out:
            if self.skipped(cv):
                write_json(out / self.artifact("classifier"), {"class": self.class_name, **cv})
                return
            y, _ = self.class_targets()
            self.report_progress(0, 1, f"{self.class_name}: final fit on {len(y):,} messages")
            pipeline = fit_final(self.features(), y, params=cv["best_params"], random_state=training().seed)
            linear = linear_form(pipeline)
            import joblib

            joblib.dump(pipeline, out / self.artifact("pipeline"))
            summary = {key: cv[key] for key in ("best_params", "roc_auc", "pr_auc", "threshold") if key in cv}
            if "against_truth" in cv:
                summary["against_truth"] = cv["against_truth"]
            write_json(
                out / self.artifact("classifier"),
                {
                    "class": self.class_name,
                    "status": "trained",
                    **summary,
                    "coef": linear.coef_.tolist(),
                    "intercept": linear.intercept_,
                    "positives": int(y.sum()),
                    "messages": int(len(y)),
                },
            )
        self.report_progress(1, 1, f"{self.class_name}: fitted")


@functools.lru_cache(maxsize=8)
def check_training_grids(grids_json: str, scoring: str) -> None:
    """check_param_grid (param_grid and small_data_param_grid) and check_scoring, once per grids and scorer."""
    for option, grid in json.loads(grids_json).items():
        check_param_grid(grid, option)
    check_scoring(scoring)


class TrainClassifiers(SortboxTask):
    """Fans out one FitClassifier chain per class found by labelling (dynamic dependencies, so
    `--workers N` trains N classes at once). Output: classes.json, one entry per class."""

    reads = (training,)
    artifacts = {"classes": Artifact("classes.json", read_json)}
    priority = TRAINING_PRIORITY

    def requires(self):
        # The features too: the per-class chains it yields depend on them, so its own hash must
        # change with them, or a changed [lsi] num_topics would reuse the old classifiers.
        return {"labels": LabelMessages(**self.same_run()), "features": EmbedMessages(**self.same_run())}

    def check_before_run(self) -> None:
        # While the DAG is scheduled (see SortboxTask.complete), loading scikit-learn only when
        # there is training to do: a bad candidate stops the run before extraction, not in GridSearch.
        config = training()
        grids = {"param_grid": config.grid(), "small_data_param_grid": config.grid(0)}
        check_training_grids(json.dumps(grids, sort_keys=True), config.scoring)

    def run(self):
        labels = self.read_input("labels", "summary")
        # A class whose rule file holds no rule gets its chain too, which records it as skipped.
        classes = sorted({*labels["classes"], *labels.get("classes_without_rules", {})})
        for name in training().unknown_threshold_classes(classes):
            logger.warning(
                "[training] class_thresholds names %r, not a class of this run (%s): it sets no threshold",
                name,
                ", ".join(classes),
            )
        # The folds of every class that will be searched are yielded here too, with the chains: they
        # start at once instead of after each GridSearch has run to yield them (it yields the same).
        sample = training_sample_labels(self).column("labels")
        folds = training().folds
        searched = [name for name in classes if not skip_reason(name, class_target_arrow(sample, name), labels, folds)]
        yielded = yield {
            "chains": {
                name: {
                    "grid": GridSearch(**self.same_run(), class_name=name),
                    "cv": CrossValidate(**self.same_run(), class_name=name),
                    "fit": FitClassifier(**self.same_run(), class_name=name),
                }
                for name in classes
            },
            "folds": [
                GridSearchFold(**self.same_run(), class_name=name, fold=fold)
                for name in searched
                for fold in range(folds)
            ],
        }
        summary = {}
        for name, outputs in yielded["chains"].items():
            classifier = read_json(Path(outputs["fit"].path) / FitClassifier.artifact("classifier"))
            summary[name] = {
                "status": classifier["status"],
                "reason": classifier.get("reason"),
                "classifier_dir": outputs["fit"].path,
                "grid": read_json(Path(outputs["grid"].path) / GridSearch.artifact("grid")),
                "cv": read_json(Path(outputs["cv"].path) / CrossValidate.artifact("cv")),
            }
        with self.atomic_output() as out:
            write_json(out / self.artifact("classes"), summary)
