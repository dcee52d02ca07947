"""Training profiles and drift: no alarm on the training distribution, a named feature when it moves."""

import json

import numpy as np
import pandas as pd
import pytest

from workbench.monitor.drift import drift_report, psi
from workbench.quality.profile import capture_profile, load_profile, save_profile


def churn_like(n: int, seed: int, shift: float = 0.0, plan_mix=(0.6, 0.3, 0.1)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "tenure_months": rng.integers(0, 72, n),
        "monthly_charges": rng.normal(70 + shift, 20, n).round(2),
        "calls": rng.poisson(3, n),
        "plan": rng.choice(["basic", "plus", "pro"], n, p=list(plan_mix)),
    })


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    train = churn_like(5000, seed=1)
    prof = capture_profile(train, predictions=np.linspace(0, 1, 5000), source="test")
    path = save_profile(prof, tmp_path_factory.mktemp("p") / "training_profile.json")
    json.loads(path.read_text())  # plain JSON
    return load_profile(path)


def test_profile_kinds(profile):
    cols = profile["columns"]
    assert cols["monthly_charges"]["kind"] == "numeric" and len(cols["monthly_charges"]["fractions"]) == 10
    assert cols["plan"]["kind"] == "categorical" and set(cols["plan"]["frequencies"]) == {"basic", "plus", "pro"}
    assert cols["calls"]["kind"] == "categorical" or cols["calls"]["kind"] == "numeric"
    assert abs(sum(cols["tenure_months"]["fractions"]) - 1) < 1e-9


def test_same_distribution_is_not_drift(profile):
    report = drift_report(profile, churn_like(1000, seed=2), predictions=np.random.default_rng(3).random(1000))
    assert report.drifted == [], report.table()
    assert report.max_psi() < 0.1


def test_shifted_numeric_and_categorical_features_are_named(profile):
    served = churn_like(1000, seed=4, shift=25.0, plan_mix=(0.1, 0.2, 0.7))
    report = drift_report(profile, served)
    drifted = {f.feature for f in report.drifted}
    assert drifted == {"monthly_charges", "plan"}, report.table()
    charges = next(f for f in report.features if f.feature == "monthly_charges")
    assert charges.test == "ks" and charges.p_value < 1e-6 and charges.psi > 0.2
    plan = next(f for f in report.features if f.feature == "plan")
    assert plan.test == "chi2" and "PSI" in plan.why


def test_a_missing_column_and_unseen_categories(profile):
    served = churn_like(500, seed=5).drop(columns=["calls"])
    served["plan"] = "enterprise"  # never seen in training
    report = drift_report(profile, served)
    by = {f.feature: f for f in report.features}
    assert by["calls"].kind == "missing" and by["calls"].drifted
    assert by["plan"].drifted and by["plan"].actual[-1] == 1.0


def test_psi_of_identical_distributions_is_zero():
    assert psi([0.25] * 4, [0.25] * 4) == 0
    assert psi([0.5, 0.5], [0.9, 0.1]) > 0.2
