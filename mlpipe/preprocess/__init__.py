"""Per-shard image preprocessing: cut-out, sky, star subtraction, features, log scaling, resizing."""
