"""Downloading the g-band cut-outs of a shard (optional: only with data.fetch.enabled)."""
