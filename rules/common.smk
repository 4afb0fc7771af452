# Helpers and input functions shared by the rules (no logic lives in the rules themselves).
import functools
import json
import os
import sys

import pandas as pd

# The repository root (the folder above rules/), wherever Snakemake runs (--directory elsewhere,
# or this workflow used as a module of another): the mlpipe package is imported from there, here
# and by every job's `python -m mlpipe` (the conda environments do not install it). Jobs inherit
# the environment; a cluster job re-reads this file and sets it again.
ROOT = os.path.dirname(os.path.abspath(str(workflow.current_basedir)))
_pythonpath = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != ROOT]
os.environ.update(PYTHONPATH=os.pathsep.join([ROOT, *_pythonpath]))
sys.path.insert(0, ROOT)
from mlpipe.config import load_yaml, validate  # noqa: E402
from mlpipe.evaluate.registry import METRIC_TABLES, evaluation_figures, figure_path  # noqa: E402 (plain data)
from mlpipe.gbm.predictors import table_only, workflow_predictors  # noqa: E402 (plain data, no heavy imports)

# The whole config before anything runs: each file's duplicate keys (Snakemake keeps the last
# silently), the schema with every range, names that must refer to a CNN or predictor, keys that
# constrain each other, and the input files and folders that must exist.
for _configfile in workflow.configfiles:
    load_yaml(_configfile)
validate(config, check_paths=True)

SHARDS = [str(i) for i in range(config["catalog"]["n_shards"])]
MOCK = config["data"]["source"] == "mock"


TABLE_ONLY = table_only(config)  # data.real.images: null: no images, no CNN, the predictors that read none
MODELS = [] if TABLE_ONLY else list(config["cnn"]["models"])
PREDICTORS = list(workflow_predictors(config))
IMPORTANCE = config["evaluate"]["importance"]["predictors"]
# the registry's figures this run can draw (a table-only run: those that need no images)
FIGURE_SPECS = evaluation_figures(IMPORTANCE, images=not TABLE_ONLY)
FIGURES = [figure_path(spec) for spec in FIGURE_SPECS]
STAGE_FIGURE_CAPTIONS = set() if TABLE_ONLY else {"learning_curve", "preprocess"}
CAPTIONS = [f"{ROOT}/report/{name}.rst" for name in sorted({spec.caption_name for spec in FIGURE_SPECS} | STAGE_FIGURE_CAPTIONS)]


wildcard_constraints:
    shard=r"\d+",
    model="|".join(MODELS) or "no-cnn",
    predictor="|".join(PREDICTORS),


def stage_config(*sections):
    """A params function: the config sections a step uses, as JSON (a change to them reruns the
    step; "inputs.stars" passes only that part of a section). A function, so that braces in
    values (data.fetch.url_template) are not wildcards."""
    chosen = {}
    for section in sections:  # "inputs.stars": only that part of a section
        top, _, sub = section.partition(".")
        chosen.setdefault(top, {})
        if sub:
            chosen[top][sub] = config[top][sub]
        else:
            chosen[top] = config[top]
    text = json.dumps(chosen, sort_keys=True)

    def params(wildcards):
        return text

    return params


def preprocess_config():
    """A params function: the preprocessing config sections plus the unit of images without
    BUNIT (data.real.image_unit, image_zero_point_mag), not the rest of data.real, whose paths
    do not change a preprocessed image."""
    real = config["data"]["real"]
    units = {k: real[k] for k in ("image_unit", "image_zero_point_mag") if k in real}
    text = json.dumps(
        {
            "preprocess": config["preprocess"],
            "cosmology": config["cosmology"],
            "data": {"real": units},
            "inputs": {"stars": config["inputs"]["stars"]},
        },
        sort_keys=True,
    )

    def params(wildcards):
        return text

    return params


def input_folder(name, levels=1):
    """A params function giving the folder of the named (or numbered) input files, or the one
    ``levels`` up (results/mock of results/mock/images/shard-{shard})."""

    def folder(wildcards, input):
        files = input[name]
        path = files if isinstance(files, str) else files[0]
        for _ in range(levels):
            path = os.path.dirname(path)
        return path

    return folder


def output_folder(wildcards, output):
    """The folder of a rule's (first) output."""
    return os.path.dirname(output[0])


def survey_catalogues(wildcards):
    """The input catalogues: the mock survey's, or the user's real files."""
    if MOCK:
        mock = rules.mock_catalogues.output
        return {name: mock[name] for name in ("gswlc", "hyperleda", "gz2", "photometry")}
    real = config["data"]["real"]
    return {k: real[k] for k in ("gswlc", "hyperleda", "gz2", "photometry") if real[k]}


def optional_catalogues(wildcards, input):
    """--hyperleda / --gz2 where the run has them (a table-only run may have neither)."""
    return " ".join(f"--{k} {input[k]}" for k in ("hyperleda", "gz2") if k in input.keys())


def gbm_table_inputs(wildcards):
    """The sample, and (unless table-only) every image store and CNN feature store."""
    inputs = {"sample": "results/catalog/sample.csv"}
    if not TABLE_ONLY:
        inputs["images"] = expand("results/images/shard-{shard}.h5", shard=SHARDS)
        inputs["features"] = expand("results/features/{model}", model=MODELS)  # extraction's folders
    return inputs


def gbm_table_options(wildcards, input):
    if TABLE_ONLY:
        return ""
    images = os.path.dirname(input.images[0])
    features = os.path.dirname(input.features[0])
    return f"--images-dir {images} --features-dir {features} --models {' '.join(MODELS)} " f"--shards {len(SHARDS)}"


def shard_image_folder(wildcards):
    """The folder with a shard's g-band cut-outs: its mock render, or the user's image folder."""
    if MOCK:
        return rules.mock_images.output[0].format(shard=wildcards.shard)
    return config["data"]["real"]["images"]


def shard_catalogue_folder(wildcards):
    """build_sample's folder of shard catalogues (an input function: rules/mock.smk is read before
    rules/catalog.smk defines the rule)."""
    return rules.build_sample.output.shards


@functools.cache
def sample_shard_folder():
    """The folder of build_sample's shard catalogues, once it has run. Asked once per Snakemake
    process: the checkpoint's .get() is not free, and asking it per shard adds up at 10,000 shards."""
    return checkpoints.build_sample.get().output.shards


def sample_shard_catalogue(shard):
    """The catalogue of one shard (a file in build_sample's folder output)."""
    return f"{sample_shard_folder()}/shard-{shard}.csv"


def image_index_file():
    """The real data's image index (frames shared by galaxies), or None."""
    return None if MOCK else config["data"]["real"]["image_index"]


@functools.cache
def image_index():
    """objid -> frame file of the real data's image index, read once."""
    return pd.read_csv(image_index_file()).set_index("objid")["file"].to_dict()


def shard_images(wildcards):
    """A shard's image inputs. Mock: the folder its render job writes (Snakemake's timestamp in it
    dates every image). Real: each of its galaxies' files, read from the shard catalogue, so that
    a changed image reruns only its shard and a file added to the folder reruns none."""
    folder = shard_image_folder(wildcards)
    if MOCK:
        return [folder]
    if config["data"]["fetch"]["enabled"]:  # list the images only once the shard's download ran
        checkpoints.fetch_images.get(shard=wildcards.shard)
    shard = sample_shard_catalogue(wildcards.shard)
    ids = pd.read_csv(shard, usecols=["objid"])["objid"]
    if image_index_file():
        index = image_index()
        names = sorted({index[objid] for objid in ids if objid in index})
    else:
        names = [f"{objid}.fits" for objid in ids]
    return [f"{folder}/{name}" for name in names if os.path.exists(f"{folder}/{name}")]


def image_index_inputs(wildcards):
    return [image_index_file()] if image_index_file() else []


def image_index_option(wildcards, input):
    return f"--image-index {input.index}" if input.index else ""


def star_catalogue(wildcards):
    return rules.mock_catalogues.output.stars if MOCK else config["data"]["real"]["stars"]


def image_sizes():
    """Every input size the configured CNNs need, space separated."""
    return " ".join(str(s) for s in sorted({m["image_size"] for m in config["cnn"]["models"].values()}))


def cnn_model_config(wildcards, extraction=False):
    """The config one CNN job depends on (its model, its parent, the training defaults; and for
    extraction its batch size), so that changing one model reruns only that model and what
    depends on it, and changing the extraction batch reruns no training."""
    models = config["cnn"]["models"]
    names = [wildcards.model] + [p for p in [models[wildcards.model].get("init_from")] if p]
    cnn = {k: v for k, v in config["cnn"].items() if k != "models" and (extraction or k != "extraction_batch_size")}
    cnn["models"] = {name: models[name] for name in names}
    return json.dumps({"cnn": cnn}, sort_keys=True)


def cnn_extraction_config(wildcards):
    """What one extraction job depends on: its model's config and the extraction batch size."""
    return cnn_model_config(wildcards, extraction=True)


def cnn_training_inputs(wildcards):
    """Sample, the image-store index (not the n stores themselves: for every file a job hands
    to a consumer, Snakemake scans the job's input list, so n inputs and n files handed on cost
    O(n^2)) and, for a fine-tuned model, its parent's weights. Extraction, which writes the n
    feature stores, reads the image stores through the same index for the same reason."""
    inputs = {
        "sample": "results/catalog/sample.csv",
        "store_index": "results/images/stores.csv",
    }
    parent = config["cnn"]["models"][wildcards.model].get("init_from")
    if parent:
        inputs["parent"] = f"results/models/{parent}/model.pt"
    return inputs


def init_from_option(wildcards):
    parent = config["cnn"]["models"][wildcards.model].get("init_from")
    return f"--init-from results/models/{parent}/model.pt" if parent else ""


def bundle_inputs(wildcards):
    """A predictor's saved model and every CNN (the export keeps those its features use)."""
    folder = f"results/gbm/{wildcards.predictor}"
    inputs = {
        "model": f"{folder}/model.txt",
        "info": f"{folder}/fit.json",
        "interval": f"{folder}/interval.json",
        "models": expand("results/models/{model}/model.pt", model=MODELS),
    }
    if not TABLE_ONLY:  # the training images, whose pixel scale and unit the bundle records
        inputs["store_index"] = rules.index_image_stores.output[0]
    return inputs


def store_index_option(wildcards, input):
    return f"--store-index {input.store_index}" if "store_index" in input.keys() else ""


def predict_inputs(wildcards):
    """The bundle of predict.predictor and the user's new galaxies."""
    cfg = config["predict"]
    inputs = {"bundle": f"results/bundle/{cfg['predictor']}.zip", "catalogue": cfg["catalogue"]}
    if cfg["images"]:
        inputs["images"] = cfg["images"]
    if cfg["stars"]:
        inputs["stars"] = cfg["stars"]
    return inputs


def predict_stars_option(wildcards, input):
    return f"--stars {input.stars}" if "stars" in input.keys() else ""


def predict_images_option(wildcards, input):
    return f"--images {input.images}" if "images" in input.keys() else ""


def figures_inputs(wildcards):
    """What the figures read: the features table, sample, predictions, metric tables, importances
    and (unless table-only) the image-store index, whose stores hold the example cut-outs."""
    inputs = {
        "table": rules.gbm_table.output.table,
        "sample": rules.build_sample.output.sample,
        "rejected": rules.build_sample.output.rejected,
        "predictions": expand("results/predictions/{predictor}.csv", predictor=PREDICTORS),
        "metrics": expand("results/metrics/{name}.csv", name=METRIC_TABLES),
        "importance": expand("results/metrics/importance_{predictor}.csv", predictor=IMPORTANCE),
    }
    if not TABLE_ONLY:
        inputs["store_index"] = rules.index_image_stores.output[0]
    return inputs


def preprocess_figure(wildcards):
    """The first shard's preprocessing figure, shown in the report (none in a table-only run)."""
    return [] if TABLE_ONLY else [rules.preprocess_shard.output.figure.format(shard=0)]


def preprocess_figure_option(wildcards, input):
    return f"--preprocess-figure {input.preprocess}" if input.preprocess else ""


def oracle_tables(wildcards):
    """The catalogue-level oracle of the mock's truth (rule mock_oracle); nothing for real data."""
    return ["results/metrics/oracle.csv"] if MOCK else []


def oracle_option(wildcards, input):
    return f"--oracle {input.oracle}" if input.oracle else ""


def final_outputs():
    """What `snakemake` with no target builds: every stage that exists."""
    outputs = ["results/catalog/sample.csv", "results/catalog/rejected.csv"]
    if not TABLE_ONLY:
        outputs += expand("results/images/shard-{shard}.h5", shard=SHARDS)
        outputs += expand("results/models/{model}/model.pt", model=MODELS)
        outputs += expand("results/features/{model}", model=MODELS)  # each holds shard-K.h5
    outputs += expand("results/predictions/{predictor}.csv", predictor=PREDICTORS)
    outputs.append("results/report.md")
    if config["predict"]["catalogue"]:
        outputs.append("results/predict/predictions.csv")
    return outputs
