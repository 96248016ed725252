#!/usr/bin/env python3
"""Writes the CSV files of this folder from the copies that scikit-learn's wheel carries.

Usage:
    pip download --no-deps -d /tmp/skl scikit-learn
    python3 datasets/extract_sklearn.py /tmp/skl/scikit_learn-*.whl

Only the standard library is used: the wheel is read as a zip file. Each output CSV has a header
row; class labels are written as names where the source names them.
"""
import csv
import gzip
import hashlib
import io
import pathlib
import sys
import zipfile

HERE = pathlib.Path(__file__).resolve().parent
DATA = "sklearn/datasets/data/"

WINE = [
    "alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
    "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
    "od280_od315_of_diluted_wines", "proline",
]
CANCER_MEASURES = [
    "radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
    "concave_points", "symmetry", "fractal_dimension",
]
CANCER = [f"{stat}_{m}" for stat in ("mean", "error", "worst") for m in CANCER_MEASURES]
DIABETES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def labelled(text, features, target):
    """Parses scikit-learn's `n,d,name0,name1,...` files into a header and named-label rows."""
    lines = text.strip().splitlines()
    head = lines[0].split(",")
    n, d, names = int(head[0]), int(head[1]), head[2:]
    assert d == len(features), (d, len(features))
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == n, (len(rows), n)
    return [features + [target]] + [r[:d] + [names[int(r[d])]] for r in rows]


def build(wheel):
    z = zipfile.ZipFile(wheel)
    read = lambda name: z.read(DATA + name).decode()
    read_gz = lambda name: gzip.decompress(z.read(DATA + name)).decode()
    sets = {
        "iris.csv": labelled(
            read("iris.csv"),
            ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"],
            "species",
        ),
        "wine.csv": labelled(read("wine_data.csv"), WINE, "cultivar"),
        "breast_cancer.csv": labelled(read("breast_cancer.csv"), CANCER, "diagnosis"),
    }
    digits = [line.split(",") for line in read_gz("digits.csv.gz").strip().splitlines()]
    pixels = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    sets["digits.csv"] = [pixels + ["digit"]] + digits
    features = [line.split() for line in read_gz("diabetes_data_raw.csv.gz").strip().splitlines()]
    target = [float(t) for t in read_gz("diabetes_target.csv.gz").split()]
    assert len(features) == len(target) == 442
    sets["diabetes.csv"] = [DIABETES + ["progression"]] + [
        f + [f"{t:g}"] for f, t in zip(features, target)
    ]
    return sets


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for name, rows in build(sys.argv[1]).items():
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        data = buffer.getvalue().encode()
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(rows) - 1} rows x {len(rows[0])} columns, "
              f"sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
