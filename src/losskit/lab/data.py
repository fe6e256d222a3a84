"""Data for the loss lab: built-in datasets, user tables, the split, scaling and perturbations.

Everything here is NumPy (plus pandas for reading files and scikit-learn for the bundled
datasets, both imported lazily). The arrays a run trains on are produced by
:func:`prepare_split` from a :class:`Dataset`, a seed and the perturbation settings, so a worker
process given the same three rebuilds exactly the same data.

>>> data = load_dataset("iris")
>>> data.task, data.X.shape, data.class_names
('multiclass', (150, 4), ('setosa', 'versicolor', 'virginica'))
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from losskit import ArgumentError

literal = ArgumentError.literal  # user text inside an error template

TASK_CHOICES = ("auto", "regression", "binary", "multiclass")

# Fractions of the rows that go to training, validation (early stopping) and test (metrics).
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
# Fewer rows than this leave a test split too small for any metric to mean something.
MIN_ROWS = 20
# Every class needs this many rows: one each in the train, validation and test splits.
MIN_ROWS_PER_CLASS = 3
# Text columns with at most this many distinct values are one-hot encoded automatically.
MAX_ONE_HOT_LEVELS = 10
# Integer targets with at most this many distinct values are classes, with more a quantity.
MAX_CLASSES_FOR_AUTO = 20
# Gross errors added by ``outliers=FRAC``: this many (uniform) standard deviations of the
# clean training targets, so that a typical target of 1 becomes 10 to 50 times the spread,
# the articles' "1 predicted as 1000" scenario.
OUTLIER_SCALE_RANGE = (10.0, 50.0)


@dataclass(frozen=True)
class Dataset:
    """A loaded table: features, target and what kind of prediction it asks for."""

    name: str  # built-in name, or "csv:<path>"
    X: np.ndarray  # (n_samples, n_features) float64
    y: np.ndarray  # regression: float64; classification: int64 class indices
    task: str  # regression / binary / multiclass
    feature_names: tuple[str, ...]
    target: str
    class_names: tuple[str, ...] = ()  # classification: the original label of each index
    fingerprint: str = field(default="", compare=False)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> dict[str, Any]:
        """JSON-friendly facts about the data, for the report and the results file."""
        info: dict[str, Any] = {
            "name": self.name,
            "task": self.task,
            "n_samples": int(self.X.shape[0]),
            "n_features": int(self.X.shape[1]),
            "feature_names": list(self.feature_names),
            "target": self.target,
            "fingerprint": self.fingerprint,
        }
        if self.class_names:
            counts = np.bincount(self.y, minlength=self.n_classes)
            info["class_names"] = list(self.class_names)
            info["class_counts"] = [int(c) for c in counts]
        return info


@dataclass(frozen=True)
class Split:
    """The arrays of one run: scaled features, targets in training units, and the scaling.

    Regression targets are trained on as ``(y - target_center) / target_scale``; predictions
    are mapped back with :meth:`to_original_units` before any metric is computed.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray  # original units (regression) or class indices: the metrics' truth
    target_center: float = 0.0
    target_scale: float = 1.0
    train_index: np.ndarray | None = None  # rows of the dataset in the training split
    perturbed: np.ndarray | None = None  # positions in the training split that were perturbed

    def to_original_units(self, predictions: np.ndarray) -> np.ndarray:
        return predictions * self.target_scale + self.target_center

    def clean_train_targets(self, dataset: "Dataset") -> np.ndarray:
        """The training rows' targets before any perturbation (original units or class indices)."""
        return dataset.y[self.train_index].copy()


# ------------------------------------------------------------------------------- built-in data


# The bundled scikit-learn tables are read from scikit-learn's data folder directly: importing
# sklearn.datasets costs a second or more, longer than a small comparison (tests check that
# these arrays and names equal scikit-learn's loaders').
_BREAST_CANCER_FEATURES = [
    f"{kind} {name}" if kind != "error" else f"{name} error"
    for kind in ("mean", "error", "worst")
    for name in ("radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
                 "concave points", "symmetry", "fractal dimension")
]
_WINE_FEATURES = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
                  "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue", "od280/od315_of_diluted_wines",
                  "proline"]
_DIRECT = {
    "load_diabetes": ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"],
    "load_breast_cancer": _BREAST_CANCER_FEATURES,
    "load_wine": _WINE_FEATURES,
    "load_iris": ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"],
    "load_digits": [f"pixel_{row}_{column}" for row in range(8) for column in range(8)],
}


def _sklearn_data_folder() -> str | None:
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    locations = getattr(spec, "submodule_search_locations", None)
    if not locations:
        return None
    folder = os.path.join(list(locations)[0], "datasets", "data")
    return folder if os.path.isdir(folder) else None


def _read_direct(loader_name: str) -> tuple[np.ndarray, np.ndarray, list[str], str, list[str]] | None:
    """A bundled table read as scikit-learn's loader reads it, without importing scikit-learn."""
    folder = _sklearn_data_folder()
    if folder is None or loader_name not in _DIRECT:
        return None
    names = _DIRECT[loader_name]
    try:
        if loader_name == "load_diabetes":
            X = np.loadtxt(os.path.join(folder, "diabetes_data_raw.csv.gz"))
            y = np.loadtxt(os.path.join(folder, "diabetes_target.csv.gz"))
            # load_diabetes(scaled=True): centred, unit variance, then divided by sqrt(n_samples).
            X = (X - X.mean(axis=0)) / X.std(axis=0) / np.sqrt(X.shape[0])
            return X, y, names, "target", []
        if loader_name == "load_digits":
            table = np.loadtxt(os.path.join(folder, "digits.csv.gz"), delimiter=",")
            return table[:, :-1], table[:, -1].astype(np.int64), names, "target", [str(i) for i in range(10)]
        file = {"load_breast_cancer": "breast_cancer.csv", "load_wine": "wine_data.csv", "load_iris": "iris.csv"}[loader_name]
        with open(os.path.join(folder, file), encoding="utf-8") as handle:
            header = handle.readline().strip().split(",")
            table = np.loadtxt(handle, delimiter=",")
    except (OSError, ValueError):
        return None
    classes = header[2:]
    if table.shape[1] != len(names) + 1:
        return None
    return table[:, :-1], table[:, -1].astype(np.int64), names, "target", classes


def _sklearn_bunch(loader_name: str) -> Callable[[], tuple[np.ndarray, np.ndarray, list[str], str, list[str]]]:
    def load() -> tuple[np.ndarray, np.ndarray, list[str], str, list[str]]:
        direct = _read_direct(loader_name)
        if direct is not None:
            return direct
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)()
        names = [str(n) for n in getattr(bunch, "feature_names", [f"x{i}" for i in range(bunch.data.shape[1])])]
        classes = [str(c) for c in getattr(bunch, "target_names", [])]
        return bunch.data, bunch.target, names, "target", classes

    load.scikit_learn_loader = loader_name  # real data, as opposed to the generators below
    return load


def _heavy_tailed_regression() -> tuple[np.ndarray, np.ndarray, list[str], str, list[str]]:
    """Linear data whose noise is Student-t with 2 degrees of freedom (infinite variance)."""
    rng = np.random.default_rng(0)
    n_samples, n_features = 600, 10
    X = rng.standard_normal((n_samples, n_features))
    coef = rng.uniform(1.0, 10.0, n_features) * rng.choice([-1.0, 1.0], n_features)
    y = X @ coef + 5.0 * rng.standard_t(2.0, n_samples)
    return X, y, [f"x{i}" for i in range(n_features)], "target", []


def _heteroscedastic_regression() -> tuple[np.ndarray, np.ndarray, list[str], str, list[str]]:
    """Linear data whose Gaussian noise grows with the first feature: std 0.5 to about 8.

    The data for a loss that predicts its own variance (gaussian_nll): one fixed noise level,
    as mse assumes, fits neither end.
    """
    rng = np.random.default_rng(0)
    n_samples, n_features = 800, 5
    X = rng.standard_normal((n_samples, n_features))
    coef = rng.uniform(1.0, 5.0, n_features) * rng.choice([-1.0, 1.0], n_features)
    noise_std = 0.5 + 2.5 * np.abs(X[:, 0])
    y = X @ coef + noise_std * rng.standard_normal(n_samples)
    return X, y, [f"x{i}" for i in range(n_features)], "target", []


def _imbalanced_classification() -> tuple[np.ndarray, np.ndarray, list[str], str, list[str]]:
    """Binary classification with a 9:1 class ratio (scikit-learn's make_classification)."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=1000, n_features=20, n_informative=6, n_redundant=2,
        weights=[0.9, 0.1], flip_y=0.01, class_sep=1.0, random_state=0,
    )
    return X, y, [f"x{i}" for i in range(X.shape[1])], "target", ["negative", "positive"]


# Name -> (loader, task, one-line description). All of them work offline.
_BUILTIN: dict[str, tuple[Callable[[], Any], str, str]] = {
    "diabetes": (_sklearn_bunch("load_diabetes"), "regression", "disease progression after one year, 442 patients, 10 features (scikit-learn)"),
    "breast_cancer": (_sklearn_bunch("load_breast_cancer"), "binary", "malignant or benign tumour, 569 samples, 30 features (scikit-learn)"),
    "wine": (_sklearn_bunch("load_wine"), "multiclass", "three wine cultivars, 178 samples, 13 features (scikit-learn)"),
    "digits": (_sklearn_bunch("load_digits"), "multiclass", "8x8 handwritten digits, 1797 samples, 64 features (scikit-learn)"),
    "iris": (_sklearn_bunch("load_iris"), "multiclass", "three iris species, 150 samples, 4 features (scikit-learn)"),
    "heavy_tailed_regression": (_heavy_tailed_regression, "regression", "linear data with Student-t (df=2) noise, 600 samples, 10 features"),
    "heteroscedastic_regression": (_heteroscedastic_regression, "regression", "linear data whose noise grows with x0 (std 0.5 to ~8), 800 samples, 5 features"),
    "imbalanced_classification": (_imbalanced_classification, "binary", "9:1 imbalanced binary classification, 1000 samples, 20 features"),
}

#: The built-in datasets: name -> one-line description.
DATASETS: dict[str, str] = {name: description for name, (_, _, description) in _BUILTIN.items()}
#: The task of each built-in dataset.
DATASET_TASKS: dict[str, str] = {name: task for name, (_, task, _) in _BUILTIN.items()}
#: The built-in datasets drawn from a generator (the others are real data shipped with scikit-learn).
GENERATED_DATASETS: tuple[str, ...] = tuple(name for name, (loader, _, _) in _BUILTIN.items() if not hasattr(loader, "scikit_learn_loader"))


def load_dataset(name: str) -> Dataset:
    """Load a built-in dataset by name (see :data:`DATASETS`); no download is ever needed.

    >>> load_dataset("diabetes").X.shape
    (442, 10)
    """
    key = name.strip().lower().replace("-", "_")
    if key not in _BUILTIN:
        import difflib

        close = difflib.get_close_matches(str(name), list(_BUILTIN), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ArgumentError(f"unknown dataset {literal(repr(name))}; {literal(hint)}choose one of {', '.join(_BUILTIN)}, "
                            "or pass {csv} a file")
    loader, task, _ = _BUILTIN[key]
    X, y, feature_names, target, classes = loader()
    X = np.asarray(X, dtype=np.float64)
    if task == "regression":
        y = np.asarray(y, dtype=np.float64)
        class_names: tuple[str, ...] = ()
    else:
        y = np.asarray(y, dtype=np.int64)
        class_names = tuple(classes) if classes else tuple(str(c) for c in np.unique(y))
    return _finish(Dataset(key, X, y, task, tuple(feature_names), target, class_names))


def _finish(dataset: Dataset) -> Dataset:
    digest = hashlib.sha256()
    for part in (dataset.X, dataset.y):
        digest.update(np.ascontiguousarray(part).tobytes())
    digest.update(repr((dataset.feature_names, dataset.target, dataset.class_names, dataset.task)).encode())
    return Dataset(
        dataset.name, dataset.X, dataset.y, dataset.task, dataset.feature_names,
        dataset.target, dataset.class_names, fingerprint=digest.hexdigest()[:24],
    )


# ------------------------------------------------------------------------------- user tables


def load_table(
    path: str | os.PathLike, target: str | None, task: str = "auto", *,
    features: Sequence[str] | None = None, drop: Sequence[str] | None = None,
) -> Dataset:
    """Load a CSV or Parquet file as a :class:`Dataset`, with one-line errors naming what is wrong.

    Text feature columns with at most 10 distinct values are one-hot encoded; any other
    non-numeric column is an error that names it. The task is inferred from the target
    column when ``task="auto"`` (see :func:`infer_task`). ``features`` keeps only those
    columns as features, ``drop`` leaves those out (see :func:`chosen_features`); both are
    applied before any check, so dropping a column with missing values or free text makes
    the file usable.
    """
    path = os.fspath(path)
    if task not in TASK_CHOICES:
        raise ValueError(f"task must be one of {', '.join(TASK_CHOICES)}; got {task!r}")
    frame = _read_table(path)
    if target is None:
        raise ArgumentError(f"{literal(path)}: pass {{target}} the name of the column to predict (columns: {literal(_columns(frame))})")
    if target not in frame.columns:
        raise ValueError(f"{path}: no target column {target!r}; the columns are {_columns(frame)}")
    if features is not None or drop is not None:
        candidates = [str(c) for c in frame.columns if c != target]
        kept = chosen_features(candidates, features, drop, target=str(target))
        frame = frame[[c for c in frame.columns if c == target or str(c) in kept]]
    if len(frame) < MIN_ROWS:
        raise ValueError(f"{path}: {len(frame)} rows is too few; the lab needs at least {MIN_ROWS} rows to split into train, validation and test")
    _check_cells(frame, target, path, task)
    features = _encode_features(frame.drop(columns=[target]), path)
    if features.shape[1] == 0:
        raise ValueError(f"{path}: no feature columns besides the target {target!r}")
    y_raw = frame[target]
    resolved = infer_task(y_raw) if task == "auto" else task
    X = features.to_numpy(dtype=np.float64)
    names = tuple(str(c) for c in features.columns)
    if resolved == "regression":
        y, class_names = _regression_target(y_raw, path, target), ()
    else:
        y, class_names = _class_target(y_raw, path, target, resolved)
    return _finish(Dataset(f"csv:{path}", X, y, resolved, names, target, class_names))


def chosen_features(
    available: Sequence[str], features: Sequence[str] | None, drop: Sequence[str] | None, *, target: str | None = None
) -> list[str]:
    """The feature columns kept from ``available``: only ``features`` when given (in the data's
    order), less ``drop``. Unknown names get a did-you-mean; keeping none is an error.

    >>> chosen_features(["age", "bmi", "bp"], None, ["bp"])
    ['age', 'bmi']
    """
    from losskit._errors import did_you_mean

    for argument, names in (("features", features), ("drop", drop)):
        for name in names or ():
            if name == target:
                raise ArgumentError(f"{{{argument}}} names the target column {literal(repr(name))}; "
                                    f"the target is never a feature, leave it out of {{{argument}}}")
            if name not in available:
                raise ArgumentError(
                    f"{{{argument}}} names no column {literal(repr(name))}; {literal(did_you_mean(name, available))}"
                    f"the feature columns are {literal(', '.join(available))}"
                )
    wanted = set(available if features is None else features) - set(drop or ())
    kept = [name for name in available if name in wanted]
    if not kept:
        raise ArgumentError("{features} and {drop} leave no feature column; keep at least one")
    return kept


def select_features(dataset: Dataset, features: Sequence[str] | None, drop: Sequence[str] | None) -> Dataset:
    """``dataset`` with only the chosen feature columns (see :func:`chosen_features`)."""
    if features is None and drop is None:
        return dataset
    names = list(dataset.feature_names)
    kept = chosen_features(names, features, drop, target=dataset.target)
    columns = [names.index(name) for name in kept]
    return _finish(Dataset(dataset.name, dataset.X[:, columns], dataset.y, dataset.task, tuple(kept),
                           dataset.target, dataset.class_names))


def _read_table(path: str) -> Any:
    import pandas as pd

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if path.lower().endswith((".parquet", ".pq")):
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow") from None
        return pd.read_parquet(path)
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV file ({str(exc).splitlines()[0]})") from None
    return frame


def _columns(frame: Any) -> str:
    return ", ".join(repr(str(c)) for c in frame.columns)


def _where(position: int) -> str:
    """A cell's place as a user sees it in a spreadsheet: the header is line 1, data starts at 2."""
    return f"data row {position + 1} (line {position + 2} of the file)"


def _check_cells(frame: Any, target: str, path: str, task: str) -> None:
    """Refuse cells a run would train on silently with the wrong meaning, naming the column and the fix.

    The target first (a few text cells in a numeric column, a missing or infinite value),
    then each feature column (a missing or infinite value).
    """
    import pandas as pd

    y = frame[target]
    name = literal(repr(str(target)))
    if task in ("auto", "regression") and not (pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y)):
        as_numbers = pd.to_numeric(y, errors="coerce")
        stray = (as_numbers.isna() & y.notna()).to_numpy()
        if stray.any() and stray.mean() < 0.5:
            # Mostly numbers and a few text cells: a data-entry error, not a set of classes.
            first = int(np.flatnonzero(stray)[0])
            others = f" and {int(stray.sum()) - 1} more row(s)" if stray.sum() > 1 else ""
            classes = " (or pass {task:multiclass} if the column holds classes)" if task == "auto" else ""
            raise ArgumentError(
                f"{literal(path)}: target column {name} is numeric except at {_where(first)}{others}, which holds "
                f"{literal(repr(str(y.iloc[first])))}; fix or drop that row{classes}"
            )
    _check_finite(path, f"target column {str(target)!r}", y, "drop that row or fill in its target", "fix or drop that row")
    for column in frame.columns:
        if column != target:
            _check_finite(path, f"feature column {str(column)!r}", frame[column],
                          "drop the column or fill the missing values", "drop the column or replace the infinite values")


def _check_finite(path: str, what: str, values: Any, fix_missing: str, fix_infinite: str) -> None:
    """One line naming the column, the first bad row and the fix, for a NaN or an inf cell."""
    missing = values.isna().to_numpy()
    if missing.any():
        raise ValueError(f"{path}: {what} has a missing value (NaN) at {_where(int(missing.argmax()))}; {fix_missing}")
    infinite = _infinite(values)
    if infinite.any():
        first = int(infinite.argmax())
        raise ValueError(
            f"{path}: {what} holds {float(values.iloc[first]):g} at {_where(first)}, not a finite number; {fix_infinite}"
        )


def _infinite(values: Any) -> np.ndarray:
    """Where a numeric column holds +-inf (never for text or boolean columns)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return np.zeros(len(values), dtype=bool)
    return np.isinf(values.to_numpy(dtype=np.float64))


def _encode_features(features: Any, path: str) -> Any:
    import pandas as pd

    encoded = []
    for column in features.columns:
        values = features[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            encoded.append(values.astype(np.float64).to_frame(str(column)))
            continue
        as_numbers = pd.to_numeric(values, errors="coerce")
        not_numbers = as_numbers.isna().to_numpy()
        first_bad = int(np.flatnonzero(not_numbers)[0])
        if not_numbers.mean() < 0.5:
            # Mostly numbers with a few stray strings: a data-entry error, not a category.
            raise ValueError(
                f"{path}: feature column {str(column)!r} holds {str(values.iloc[first_bad])!r}, not a number, "
                f"at data row {first_bad + 1} (line {first_bad + 2}); fix or drop that row"
            )
        levels = values.astype(str).unique()
        if len(levels) > MAX_ONE_HOT_LEVELS:
            raise ValueError(
                f"{path}: feature column {str(column)!r} is not numeric (data row {first_bad + 1} holds "
                f"{str(values.iloc[first_bad])!r}) and has {len(levels)} distinct values, too many to one-hot "
                f"encode (at most {MAX_ONE_HOT_LEVELS}); drop the column or encode it yourself"
            )
        dummies = pd.get_dummies(values.astype(str), prefix=str(column), prefix_sep="=", dtype=np.float64)
        encoded.append(dummies[sorted(dummies.columns)])
    return pd.concat(encoded, axis=1) if encoded else features


def infer_task(y: Any) -> str:
    """Guess the task from a target column.

    Non-integer floats are a quantity (regression); exactly two distinct values are binary;
    text, or integers with at most 20 distinct values, are classes (multiclass); integers with
    more distinct values are a quantity (regression).

    >>> infer_task([0.5, 1.25, 3.0]), infer_task([0, 1, 1, 0]), infer_task(["a", "b", "c"])
    ('regression', 'binary', 'multiclass')
    """
    values = np.asarray(y)
    distinct = np.unique(values.astype(str)) if values.dtype.kind in "OUSb" else np.unique(values)
    if len(distinct) == 2:
        return "binary"
    if values.dtype.kind in "OUSb":
        return "multiclass"
    is_integral = values.dtype.kind in "iu" or bool(np.all(np.mod(values, 1) == 0))
    if is_integral and len(distinct) <= MAX_CLASSES_FOR_AUTO:
        return "multiclass"
    return "regression"


def _regression_target(y_raw: Any, path: str, target: str) -> np.ndarray:
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(y_raw) or pd.api.types.is_bool_dtype(y_raw):
        first = str(y_raw.iloc[0])
        raise ArgumentError(
            f"{literal(path)}: target column {literal(repr(target))} is not numeric (row 1 holds {literal(repr(first))}); "
            "use {task:binary} or {task:multiclass} to predict classes"
        )
    return y_raw.to_numpy(dtype=np.float64)


def _class_target(y_raw: Any, path: str, target: str, task: str) -> tuple[np.ndarray, tuple[str, ...]]:
    labels, uniques = _factorize(y_raw)
    if len(uniques) < 2:
        raise ValueError(
            f"{path}: target column {target!r} holds a single class ({str(uniques[0])!r}); "
            f"classification needs at least two"
        )
    if task == "binary" and len(uniques) > 2:
        raise ArgumentError(
            f"{literal(path)}: target column {literal(repr(target))} has {len(uniques)} classes; {{task:binary}} needs "
            "exactly 2 (use {task:multiclass})"
        )
    counts = np.bincount(labels)
    if counts.min() < MIN_ROWS_PER_CLASS:
        # Checked before the split, which needs a row of each class in train, validation and test.
        rare = [int(i) for i in np.argsort(counts, kind="stable") if counts[i] < MIN_ROWS_PER_CLASS]
        shown = ", ".join(f"{str(uniques[i])!r} ({counts[i]} row{'s' if counts[i] != 1 else ''})" for i in rare[:5])
        more = f" and {len(rare) - 5} more" if len(rare) > 5 else ""
        raise ValueError(
            f"{path}: target column {target!r} has {len(rare)} of {len(uniques)} classes with too few rows: "
            f"{shown}{more}; every class needs at least {MIN_ROWS_PER_CLASS} rows to appear in the train, "
            f"validation and test splits: merge or drop the rare classes, or add rows"
        )
    return labels.astype(np.int64), tuple(str(u) for u in uniques)


def _factorize(y_raw: Any) -> tuple[np.ndarray, list[Any]]:
    import pandas as pd

    labels, uniques = pd.factorize(y_raw, sort=True)
    return np.asarray(labels), list(uniques)


# ------------------------------------------------------------------------------- the split


def prepare_split(
    dataset: Dataset,
    seed: int,
    *,
    outliers: float = 0.0,
    label_noise: float = 0.0,
    imbalance: float | None = None,
    nonnegative_target: bool = False,
) -> Split:
    """Split, perturb the training part, and scale: the arrays one run trains and is tested on.

    The split is 60/20/20 (stratified for classification) and depends on ``seed``, so the
    seed-to-seed spread of a metric includes the luck of the split. Perturbations touch the
    training split only; validation and test stay clean. Features are standardized with the
    training split's mean and standard deviation. Regression targets are centred on the
    training median and divided by the training interquartile range / 1.349 (the standard
    deviation for normal data): robust statistics, so gross errors in the training targets do
    not set the scale on which a loss's parameters (huber's ``delta``) act. With
    ``nonnegative_target`` (losses on counts or logarithms) targets are only divided, never
    centred, so they stay non-negative.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    train, val, test = _split_indices(dataset, rng)
    X, y = dataset.X, dataset.y
    y_train = y[train].copy()
    perturbed = np.empty(0, dtype=np.int64)
    keep = np.arange(len(train))
    if dataset.task == "regression":
        y_train, perturbed = add_outliers(y_train, outliers, rng)
    else:
        keep = subsample_imbalance(y_train, imbalance, rng, dataset.n_classes)
        y_train = y_train[keep]
        y_train, perturbed = flip_labels(y_train, label_noise, rng, dataset.n_classes)
    train = train[keep]

    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    std = np.where(std > 0, std, 1.0)  # a constant column carries no information; leave it at 0

    def scale_features(rows: np.ndarray) -> np.ndarray:
        return (X[rows] - mean) / std

    center, scale = 0.0, 1.0
    y_train_fit, y_val_fit = y_train, y[val]
    if dataset.task == "regression":
        center, scale = robust_target_scaling(y_train, center=not nonnegative_target)
        y_train_fit, y_val_fit = (y_train - center) / scale, (y[val] - center) / scale
    return Split(
        scale_features(train), y_train_fit, scale_features(val), y_val_fit,
        scale_features(test), y[test].copy(), center, scale, train_index=train, perturbed=perturbed,
    )


def _split_indices(dataset: Dataset, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train / validation / test rows (60/20/20), stratified by class for classification.

    NumPy only (scikit-learn's train_test_split would cost its import in every worker): each
    class (all rows, for regression) is shuffled and cut in the split's proportions, rounding so
    that every class with at least 3 rows has one in each part.
    """
    n = len(dataset.y)
    if n < MIN_ROWS:
        raise ValueError(f"dataset {dataset.name!r} has {n} rows; the lab needs at least {MIN_ROWS}")
    groups = [np.arange(n)] if dataset.task == "regression" else [np.flatnonzero(dataset.y == c) for c in range(dataset.n_classes)]
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for members in groups:
        members = rng.permutation(members)
        size = len(members)
        n_test = int(round(SPLIT_FRACTIONS[2] * size))
        n_val = int(round(SPLIT_FRACTIONS[1] * size))
        if size >= 3:
            n_test, n_val = max(n_test, 1), max(n_val, 1)
        parts[2].append(members[:n_test])
        parts[1].append(members[n_test : n_test + n_val])
        parts[0].append(members[n_test + n_val :])
    train, val, test = (np.sort(np.concatenate(part)).astype(np.int64) for part in parts)
    return train, val, test


def robust_target_scaling(y: np.ndarray, *, center: bool) -> tuple[float, float]:
    q25, median, q75 = np.percentile(y, [25, 50, 75])
    scale = (q75 - q25) / 1.349
    if not scale > 0:
        scale = float(np.std(y)) or 1.0
    return (float(median) if center else 0.0), float(scale)


def add_outliers(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Replace ``fraction`` of the targets with gross errors; return them and the positions hit.

    Each chosen target moves by 10 to 50 standard deviations of the clean targets, upwards or
    downwards at random, or only upwards when every target is non-negative (counts, prices,
    the articles' 1 -> 1000) so the targets stay in their domain.
    """
    count = int(round(fraction * len(y)))
    if count == 0:
        return y, np.empty(0, dtype=np.int64)
    positions = np.sort(rng.choice(len(y), size=count, replace=False))
    spread = float(np.std(y)) or 1.0
    magnitude = rng.uniform(*OUTLIER_SCALE_RANGE, size=count) * spread
    sign = np.ones(count) if np.all(y >= 0) else rng.choice([-1.0, 1.0], size=count)
    corrupted = y.copy()
    corrupted[positions] = y[positions] + sign * magnitude
    return corrupted, positions


def flip_labels(y: np.ndarray, fraction: float, rng: np.random.Generator, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Move ``fraction`` of the labels to another class chosen uniformly; return them and the positions."""
    count = int(round(fraction * len(y)))
    if count == 0:
        return y, np.empty(0, dtype=np.int64)
    positions = np.sort(rng.choice(len(y), size=count, replace=False))
    # An offset in [1, n_classes) guarantees the new class differs from the old one.
    offsets = rng.integers(1, n_classes, size=count)
    flipped = y.copy()
    flipped[positions] = (y[positions] + offsets) % n_classes
    return flipped, positions


def subsample_imbalance(y: np.ndarray, ratio: float | None, rng: np.random.Generator, n_classes: int) -> np.ndarray:
    """Positions to keep so that every class but the largest has ``ratio`` times its size.

    For binary data this makes minority / majority = ``ratio``. Classes already smaller than
    that are kept whole (subsampling cannot grow a class); every class keeps at least 2 rows.
    """
    if ratio is None:
        return np.arange(len(y))
    counts = np.bincount(y, minlength=n_classes)
    largest = int(np.argmax(counts))
    target = max(2, int(round(ratio * counts[largest])))
    keep = []
    for label in range(n_classes):
        members = np.flatnonzero(y == label)
        if label != largest and len(members) > target:
            members = np.sort(rng.choice(members, size=target, replace=False))
        keep.append(members)
    return np.sort(np.concatenate(keep))


def check_perturbations(task: str, outliers: float, label_noise: float, imbalance: float | None) -> None:
    """Reject perturbation settings that do not apply to ``task`` or are out of range."""
    for name, value in (("outliers", outliers), ("label_noise", label_noise)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1); got {value!r}")
    if imbalance is not None and not 0.0 < imbalance <= 1.0:
        raise ValueError(f"imbalance must be a ratio minority/majority in (0, 1]; got {imbalance!r}")
    if task == "regression":
        if label_noise:
            raise ArgumentError("{label_noise} flips class labels and applies to classification; for regression use {outliers}")
        if imbalance is not None:
            raise ValueError("imbalance subsamples classes and applies to classification; it has no meaning for regression")
    elif outliers:
        raise ArgumentError(f"{{outliers}} corrupts regression targets; for a {literal(task)} task use {{label_noise}} to flip labels")
