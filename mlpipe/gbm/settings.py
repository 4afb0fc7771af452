"""How the predictors' LightGBM models are fitted: the ``gbm`` config section, unpacked once at
the stage's entry point so that the fitting code takes typed values rather than the config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class FitSettings:
    seed: int                                   # LightGBM, CV folds and the half-training draw
    params: Mapping[str, Any]                   # LightGBM parameters, num_boost_round and early_stopping_rounds
    grid: Mapping[str, list] = field(default_factory=dict)  # gbm.grid: values tried by CV (> tuning_max_features)
    cv_folds: int = 5
    tuning_max_features: int = 0                # predictors with at most this many features ...
    tuning_grid: Mapping[str, list] = field(default_factory=dict)  # ... choose from this grid by CV ...
    tuning_early_stopping_rounds: int | None = None  # ... with this early stopping in each CV fit

    @classmethod
    def from_config(cls, gbm_cfg: Mapping[str, Any]) -> FitSettings:
        """The settings of the ``gbm`` config section (``tuning`` may be absent: no per-predictor CV)."""
        tuning = gbm_cfg.get("tuning") or {}
        return cls(seed=gbm_cfg["seed"], params=dict(gbm_cfg["params"]), grid=dict(gbm_cfg.get("grid") or {}),
                   cv_folds=gbm_cfg["cv_folds"], tuning_max_features=tuning.get("max_features", 0),
                   tuning_grid=dict(tuning.get("grid") or {}),
                   tuning_early_stopping_rounds=tuning.get("early_stopping_rounds"))
