"""The galaxy sample: cross-match, cuts, the M/L target, split and shards."""
