# Helpers and input functions shared by the rules (no logic lives in the rules themselves).
import json

SHARDS = [str(i) for i in range(config["catalog"]["n_shards"])]
MOCK = config["data"]["source"] == "mock"


wildcard_constraints:
    shard=r"\d+",


def stage_config(*sections):
    """The config sections a step uses, as JSON: a change to them reruns the step."""
    return json.dumps({s: config[s] for s in sections}, sort_keys=True)


def survey_catalogues(wildcards):
    """The input catalogues: the mock survey's, or the user's real files."""
    if MOCK:
        return {
            name: f"results/mock/{filename}"
            for name, filename in [
                ("gswlc", "GSWLC-X2.dat"),
                ("hyperleda", "hyperleda.csv"),
                ("gz2", "gz2_hart16.csv"),
                ("photometry", "sdss_photometry.csv"),
            ]
        }
    real = config["data"]["real"]
    return {k: real[k] for k in ("gswlc", "hyperleda", "gz2", "photometry")}


def shard_images(wildcards):
    """The folder with a shard's g-band cut-outs."""
    if MOCK:
        return f"results/mock/images/shard-{wildcards.shard}"
    return config["data"]["real"]["images"]


def final_outputs():
    """What `snakemake` with no target builds: every stage that exists."""
    outputs = ["results/catalog/sample.csv", "results/catalog/rejected.csv"]
    if MOCK:
        outputs += expand("results/mock/images/shard-{shard}", shard=SHARDS)
    return outputs
