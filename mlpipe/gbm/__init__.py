"""The features table and the LightGBM / power-law M/L predictors."""
