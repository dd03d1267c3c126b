"""Kubeflow pipeline that trains a classifier of big tippers on Chicago taxi trips."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

# Each step runs in a Python process of the environment that runs the pipeline, and nothing is
# pip-installed: kfp 2.17 adds a `pip install kfp` to each step unless install_kfp_package=False.
# NOTE: on a Kubeflow cluster the python:3.11 image lacks pandas and scikit-learn. Give these steps
# packages_to_install or an image that has them before submitting the pipeline there.
BASE_IMAGE = "python:3.11"


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def clean_trips(input_path: str, cleaned_trips: Output[Dataset]):
    """Drop trips that cannot be labelled or are implausible, and add the big_tipper label."""
    import os

    import pandas as pd

    if not os.path.isfile(input_path):
        raise FileNotFoundError(
            f"Input file {input_path} does not exist: set input_path to a CSV of taxi trips, "
            "such as examples/data/chicago_taxi_trips.csv."
        )
    trips = pd.read_csv(input_path)
    required = ["fare", "tips", "trip_seconds", "trip_miles"]
    missing = [column for column in required if column not in trips.columns]
    if missing:
        raise ValueError(
            f"Input file {input_path} lacks the column(s) {', '.join(missing)}: "
            "give a CSV with the columns of examples/data/chicago_taxi_trips.csv."
        )
    rows_in = len(trips)
    print(f"clean_trips: read {rows_in} rows from {input_path}")

    rules = {
        "no fare or fare <= 0": trips["fare"].isna() | (trips["fare"] <= 0),
        "no tips recorded": trips["tips"].isna(),
        "missing or negative trip_seconds": trips["trip_seconds"].isna() | (trips["trip_seconds"] < 0),
        "missing or negative trip_miles": trips["trip_miles"].isna() | (trips["trip_miles"] < 0),
    }
    dropped = pd.Series(False, index=trips.index)
    for rule, rows in rules.items():
        print(f"clean_trips: {int(rows.sum())} rows with {rule}")
        dropped |= rows
    trips = trips[~dropped]
    duplicates = int(trips.duplicated().sum())
    trips = trips.drop_duplicates()
    print(f"clean_trips: {duplicates} duplicate rows")

    # The label rule of the taxi tip example: a tip above 20% of the fare.
    trips = trips.assign(big_tipper=trips["tips"] > 0.2 * trips["fare"])
    print(f"clean_trips: kept {len(trips)} of {rows_in} rows, {trips['big_tipper'].mean():.1%} big tippers")

    # Datasets are folders with a named CSV, so that a downloaded copy opens as a spreadsheet.
    os.makedirs(cleaned_trips.path, exist_ok=True)
    trips.to_csv(os.path.join(cleaned_trips.path, "trips.csv"), index=False)
    cleaned_trips.metadata["rows_in"] = rows_in
    cleaned_trips.metadata["rows_out"] = len(trips)


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def train_model(
    cleaned_trips: Input[Dataset],
    test_fraction: float,
    seed: int,
    model: Output[Model],
    test_trips: Output[Dataset],
):
    """Fit a gradient-boosting classifier on a stratified split and keep the held-out rows."""
    import json
    import os
    import platform

    import joblib
    import numpy as np
    import pandas as pd
    import sklearn
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    # The one list of features: inference reads it back from metadata.json. `tips` is never a
    # feature, because the label is computed from it.
    NUMERIC_COLUMNS = [
        "fare", "trip_miles", "trip_seconds", "trip_start_hour", "trip_start_day", "trip_start_month",
        "pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude",
        "pickup_community_area", "dropoff_community_area",
    ]
    CATEGORICAL_COLUMNS = ["payment_type", "company"]
    FEATURE_COLUMNS = NUMERIC_COLUMNS + CATEGORICAL_COLUMNS
    LABEL = "big_tipper"

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}.")

    trips = pd.read_csv(os.path.join(cleaned_trips.path, "trips.csv"))
    missing = [column for column in FEATURE_COLUMNS if column not in trips.columns]
    if missing:
        raise ValueError(f"The cleaned trips lack the feature column(s) {', '.join(missing)}.")
    if trips[LABEL].nunique() < 2:
        raise ValueError("The cleaned trips contain one class only, so no classifier can be trained.")

    train, test = train_test_split(trips, test_size=test_fraction, stratify=trips[LABEL], random_state=seed)
    print(f"train_model: {len(train)} training rows, {len(test)} held-out rows, seed {seed}")

    preprocess = ColumnTransformer([
        ("numeric", SimpleImputer(strategy="median"), NUMERIC_COLUMNS),
        ("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("one_hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]), CATEGORICAL_COLUMNS),
    ])
    estimator = Pipeline([
        ("preprocess", preprocess),
        ("classifier", HistGradientBoostingClassifier(random_state=seed)),
    ])
    estimator.fit(train[FEATURE_COLUMNS], train[LABEL])

    # The Model artifact is a folder: the fitted estimator and what inference needs to use it.
    os.makedirs(model.path, exist_ok=True)
    joblib.dump(estimator, os.path.join(model.path, "model.joblib"))
    metadata = {
        "feature_columns": FEATURE_COLUMNS,
        "numeric_columns": NUMERIC_COLUMNS,
        "categorical_columns": CATEGORICAL_COLUMNS,
        "label": LABEL,
        "label_rule": "tips > 0.2 * fare",
        "positive_class": True,
        "train_rows": len(train),
        "majority_class": bool(train[LABEL].mode()[0]),
        "seed": seed,
        "test_fraction": test_fraction,
        "library_versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "joblib": joblib.__version__,
        },
    }
    with open(os.path.join(model.path, "metadata.json"), "w") as handle:
        json.dump(metadata, handle, indent=2)
    model.metadata["framework"] = "scikit-learn"
    model.metadata["train_rows"] = len(train)

    os.makedirs(test_trips.path, exist_ok=True)
    test.to_csv(os.path.join(test_trips.path, "trips.csv"), index=False)
    test_trips.metadata["rows"] = len(test)


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def evaluate_model(model: Input[Model], test_trips: Input[Dataset], metrics: Output[Metrics]):
    """Score the model on the held-out rows against always predicting the training majority class."""
    import json
    import os

    import joblib
    import pandas as pd
    from sklearn.metrics import accuracy_score, roc_auc_score

    with open(os.path.join(model.path, "metadata.json")) as handle:
        metadata = json.load(handle)
    estimator = joblib.load(os.path.join(model.path, "model.joblib"))
    test = pd.read_csv(os.path.join(test_trips.path, "trips.csv"))
    truth = test[metadata["label"]]

    probability = estimator.predict_proba(test[metadata["feature_columns"]])[:, 1]
    accuracy = accuracy_score(truth, probability >= 0.5)
    auc = roc_auc_score(truth, probability)
    majority_baseline = accuracy_score(truth, [metadata["majority_class"]] * len(test))

    train_rows = int(metadata["train_rows"])
    test_rows = len(test)
    print(f"evaluate_model: accuracy {accuracy:.4f}, AUC {auc:.4f}, majority baseline {majority_baseline:.4f}")
    metrics.log_metric("accuracy", round(float(accuracy), 6))
    metrics.log_metric("auc", round(float(auc), 6))
    metrics.log_metric("majority_baseline", round(float(majority_baseline), 6))
    metrics.log_metric("rows_used", train_rows + test_rows)
    metrics.log_metric("train_rows", train_rows)
    metrics.log_metric("test_rows", test_rows)


@dsl.pipeline(
    name="taxi-tip-trainer",
    description="Train a classifier that predicts big tippers (tip above 20% of the fare) from Chicago taxi trips.",
)
def taxi_tip_trainer(
    input_path: str = "examples/data/chicago_taxi_trips.csv",
    test_fraction: float = 0.2,
    seed: int = 42,
):
    """Train a classifier that predicts big tippers from Chicago taxi trips.

    Args:
        input_path: CSV of taxi trips with fares and tips. A relative path starts at the project folder.
        test_fraction: Share of the cleaned trips held out to evaluate the model.
        seed: Random seed of the split and the classifier.
    """
    cleaned = clean_trips(input_path=input_path)
    trained = train_model(
        cleaned_trips=cleaned.outputs["cleaned_trips"],
        test_fraction=test_fraction,
        seed=seed,
    )
    evaluate_model(model=trained.outputs["model"], test_trips=trained.outputs["test_trips"])
