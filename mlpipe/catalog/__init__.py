"""The galaxy sample: cross-match, cuts, M/L targets, split and shards."""
