"""The ``mlpipe`` command: one subcommand per workflow step, each a thin call into a stage module.

Every Snakemake rule calls one of these, so each step also runs by hand, e.g.
``mlpipe build-sample --config workflow_config.yaml --gswlc ... --outdir results/catalog``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Callable

from mlpipe import config as config_mod
from mlpipe.io.validation import InputError

log = logging.getLogger("mlpipe")


def _seconds(text: str) -> float:
    """An argparse type: a duration of 0 or more seconds."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def _one_of(option: str, value: str, allowed, what: str) -> None:
    """A name given on the command line must be one the config defines."""
    if value not in allowed:
        raise config_mod.ConfigError(f"{option} {value}: not {what} (one of: {', '.join(sorted(allowed))})")
Runner = Callable[[argparse.Namespace, dict[str, Any]], None]
COMMANDS: dict[str, tuple[Runner, Callable[[argparse.ArgumentParser], None], bool]] = {}


def command(name: str, arguments: Callable[[argparse.ArgumentParser], None], needs_config: bool = True):
    """Register a subcommand: ``arguments`` adds its options; the function runs it. A command
    that does not need the workflow config (``predict`` reads its bundle's) has it optional."""
    def register(func):
        COMMANDS[name] = (func, arguments, needs_config)
        return func
    return register


def _check_config_args(p: argparse.ArgumentParser) -> None:
    pass


@command("check-config", _check_config_args)
def check_config(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Validate config files (merged in order, as --configfile does) and the inputs they name."""
    log.info("valid: %s", " + ".join(args.config))


def _mock_catalogues_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--outdir", required=True, help="folder for the mock catalogues and truth")


@command("mock-catalogues", _mock_catalogues_args)
def mock_catalogues(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Draw the mock population and write its catalogues in the published layouts."""
    from mlpipe.mock.survey import write_mock_catalogues

    counts = write_mock_catalogues(cfg["mock"], cfg["cosmology"], args.outdir)
    log.info("mock survey written to %s: %s", args.outdir, counts)


def _mock_images_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shard-catalogue", required=True)
    p.add_argument("--truth", required=True)
    p.add_argument("--stars", required=True)
    p.add_argument("--outdir", required=True)


@command("mock-images", _mock_images_args)
def mock_images(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Render the mock g-band cut-outs of one shard."""
    from mlpipe.mock.survey import render_shard

    n = render_shard(args.shard_catalogue, args.truth, args.stars, cfg["mock"], args.outdir)
    log.info("rendered %d mock cut-outs into %s", n, args.outdir)


def _build_sample_args(p: argparse.ArgumentParser) -> None:
    for name in ("gswlc", "photometry"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--hyperleda", help="D25 catalogue (none: a table-only sample, no D25 cut)")
    p.add_argument("--gz2", help="Galaxy Zoo 2 catalogue (none: no GZ2 answers)")
    p.add_argument("--outdir", required=True)


@command("build-sample", _build_sample_args)
def build_sample(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Cross-match the catalogues, apply the cuts, compute M/L, split and shard."""
    from mlpipe.catalog.sample import build_sample as build
    from mlpipe.catalog.sample import write_sample

    paths = {k: getattr(args, k) for k in ("gswlc", "hyperleda", "gz2", "photometry")}
    sample, rejected = build(paths, catalog_cfg=cfg["catalog"], cosmo_cfg=cfg["cosmology"], inputs=cfg.get("inputs", {}))
    write_sample(sample, rejected, n_shards=cfg["catalog"]["n_shards"], outdir=args.outdir)
    log.info("sample: %d galaxies, %d rejected", len(sample), len(rejected))


def _fetch_images_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shard-catalogue", required=True)
    p.add_argument("--images", required=True, help="folder the cut-outs {objid}.fits go to")
    p.add_argument("--report", required=True, help="CSV: objid, status (cached/downloaded/failed), detail")


@command("fetch-images", _fetch_images_args)
def fetch_images(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Download a shard's missing cut-outs (cached, resumable, retried)."""
    from mlpipe.fetch.images import fetch_shard

    fetch_shard(args.shard_catalogue, args.images, cfg["data"]["fetch"], args.report)


def _preprocess_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shard-catalogue", required=True)
    p.add_argument("--images", required=True, help="folder with {objid}.fits cut-outs (or the indexed frames)")
    p.add_argument("--image-index", help="CSV objid,file: the frame (in --images) that holds each galaxy")
    p.add_argument("--stars", required=True, help="point-source catalogue")
    p.add_argument("--sizes", required=True, type=int, nargs="+", help="output image sizes (px)")
    p.add_argument("--out", required=True, help="HDF5 image store to write")
    p.add_argument("--figure", required=True, help="PNG of a few galaxies before and after")


@command("preprocess", _preprocess_args)
def preprocess(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Preprocess one shard's cut-outs into an HDF5 image store."""
    from mlpipe.io.image_index import read_image_index
    from mlpipe.preprocess.figure import preprocessing_figure
    from mlpipe.preprocess.shard import process_shard

    index = read_image_index(args.image_index) if args.image_index else None
    real = cfg.get("data", {}).get("real", {})
    _, shown = process_shard(args.shard_catalogue, images_dir=args.images, stars_csv=args.stars,
                             sizes=sorted(set(args.sizes)), preprocess_cfg=cfg["preprocess"],
                             cosmo_cfg=cfg["cosmology"], out_path=args.out,
                             n_figure=cfg["preprocess"]["figure_galaxies"], image_index=index,
                             image_unit=real.get("image_unit", "nanomaggies"),
                             image_zero_point_mag=real.get("image_zero_point_mag"),
                             star_columns=cfg.get("inputs", {}).get("stars", {}).get("columns"))
    preprocessing_figure(shown, args.figure, f"preprocessing of {args.shard_catalogue}")


def _index_image_stores_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images-dir", required=True, help="folder of the image stores shard-K.h5")
    p.add_argument("--shards", required=True, type=int, help="number of shards")
    p.add_argument("--out", required=True, help="CSV: objid, store, row")


@command("index-image-stores", _index_image_stores_args, needs_config=False)
def index_image_stores(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """List which image store and row holds each galaxy (what CNN training reads)."""
    from mlpipe.io.atomic import write_csv
    from mlpipe.io.store import shard_stores, store_index

    index = store_index(shard_stores(args.images_dir, args.shards))
    write_csv(index, args.out)
    log.info("%d galaxies in %d image stores", len(index), args.shards)


def _train_cnn_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a name under cnn.models")
    p.add_argument("--sample", required=True)
    p.add_argument("--store-index", required=True, help="CSV written by index-image-stores")
    p.add_argument("--init-from", help="model.pt of the network to start from (CNN 4)")
    p.add_argument("--outdir", required=True)
    p.add_argument("--figure", required=True, help="learning-curve PNG")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's own choice)")
    p.add_argument("--checkpoint-interval-s", type=_seconds, help="seconds of training between checkpoints "
                   "(default: mlpipe.cnn.train.CHECKPOINT_INTERVAL_S; 0: after every epoch)")


@command("train-cnn", _train_cnn_args)
def train_cnn(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Train one CNN (resumes from its last checkpoint when one exists)."""
    _one_of("--model", args.model, cfg["cnn"]["models"], "a CNN of cnn.models")
    import pandas as pd

    from mlpipe.cnn.curves import learning_curve
    from mlpipe.cnn.device import set_cpu_threads
    from mlpipe.cnn.train import CHECKPOINT_INTERVAL_S, LOSS_LABELS, train_model

    set_cpu_threads(args.threads)
    interval = CHECKPOINT_INTERVAL_S if args.checkpoint_interval_s is None else args.checkpoint_interval_s
    train_model(args.model, cnn_cfg=cfg["cnn"], sample_csv=args.sample, store_index_csv=args.store_index,
                out_dir=args.outdir, init_state=args.init_from, device_name=args.device,
                checkpoint_interval_s=interval)
    learning_curve(pd.read_csv(f"{args.outdir}/history.csv"), args.model,
                   LOSS_LABELS[cfg["cnn"]["models"][args.model]["target"]], args.figure)


def _extract_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-file", required=True, help="model.pt written by train-cnn")
    p.add_argument("--images-dir", help="folder of the image stores shard-K.h5 (with --shards, --outdir)")
    p.add_argument("--shards", type=int, help="number of shards: shard-0.h5 ... shard-{N-1}.h5")
    p.add_argument("--outdir", help="folder for the feature stores shard-K.h5")
    p.add_argument("--images", help="one image store (with --out), instead of --images-dir")
    p.add_argument("--out", help="its feature store")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's own choice)")


@command("extract-features", _extract_args)
def extract_features(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Write one trained model's CNN features for every shard (or one image store), in one process."""
    from mlpipe.cnn.device import set_cpu_threads
    from mlpipe.cnn.extract import extract_stores, extraction_batch_size
    from mlpipe.io.store import shard_stores

    if args.images_dir and args.shards is not None and args.outdir and not (args.images or args.out):
        stores, outputs = shard_stores(args.images_dir, args.shards), shard_stores(args.outdir, args.shards)
    elif args.images and args.out and not (args.images_dir or args.shards is not None or args.outdir):
        stores, outputs = [args.images], [args.out]
    else:
        raise config_mod.ConfigError("extract-features: give --images-dir, --shards and --outdir (every shard), "
                                     "or --images and --out (one store)")
    set_cpu_threads(args.threads)
    extract_stores(args.model_file, image_stores=stores, out_paths=outputs,
                   batch_size=extraction_batch_size(cfg["cnn"]), device_name=args.device,
                   compile_mode=cfg["cnn"].get("compile", "none"), precision=cfg["cnn"].get("precision", "auto"))


def _gbm_table_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sample", required=True)
    p.add_argument("--images-dir", help="folder of the image stores shard-K.h5 (none: a table-only run)")
    p.add_argument("--features-dir", help="folder of the feature stores MODEL/shard-K.h5")
    p.add_argument("--models", nargs="*", default=[], help="the CNNs whose features to join")
    p.add_argument("--shards", type=int, default=0, help="number of shards")
    p.add_argument("--out", required=True)
    p.add_argument("--dropped", required=True, help="CSV of dead features removed")


@command("gbm-table", _gbm_table_args)
def gbm_table(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Assemble the features table of every galaxy with an image."""
    from mlpipe.gbm.table import build_features_table
    from mlpipe.io.store import shard_stores

    feature_stores = [path for model in args.models for path in shard_stores(f"{args.features_dir}/{model}", args.shards)]
    image_stores = shard_stores(args.images_dir, args.shards) if args.images_dir else []
    meta, features, dead = build_features_table(sample_csv=args.sample, image_stores=image_stores,
                                                feature_stores=feature_stores, cosmo_cfg=cfg["cosmology"],
                                                out_path=args.out, dropped_path=args.dropped)
    log.info("features table: %d galaxies x %d features; %d dead features dropped",
             len(meta), features.shape[1], len(dead))


def _train_predictor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--predictor", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--info", required=True)
    p.add_argument("--interval", required=True, help="JSON of the 16th/84th percentile models ({} if none)")
    p.add_argument("--predictions", required=True)
    p.add_argument("--threads", type=int, default=1)


@command("train-predictor", _train_predictor_args)
def train_predictor(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Fit one M/L predictor and write its model and per-galaxy predictions."""
    from mlpipe.gbm.predictors import all_predictors

    _one_of("--predictor", args.predictor, all_predictors(cfg["gbm"]), "a predictor of this gbm config")
    from mlpipe.gbm.run import train_predictor as run

    run(args.predictor, gbm_cfg=cfg["gbm"], table_path=args.table, model_path=args.model, info_path=args.info,
        interval_path=args.interval, predictions_path=args.predictions, threads=args.threads)


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", required=True, help="features table (results/gbm/features.h5)")
    p.add_argument("--predictions", required=True, help="folder of {predictor}.csv")
    p.add_argument("--outdir", required=True, help="folder for the metric tables")


@command("evaluate", _evaluate_args)
def evaluate(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Test-set metrics, bootstrap intervals, paired and KS tests, per-class and multiband tables."""
    from mlpipe.evaluate.run import write_metric_tables
    from mlpipe.gbm.predictors import workflow_predictors

    write_metric_tables(table_path=args.table, predictions_dir=args.predictions, outdir=args.outdir,
                        predictors=workflow_predictors(cfg), evaluate_cfg=cfg["evaluate"])


def _mock_oracle_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--truth", required=True, help="the mock's hidden truth (results/mock/truth.csv)")
    p.add_argument("--out", required=True, help="CSV: one row per comparison")


@command("mock-oracle", _mock_oracle_args)
def mock_oracle(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """What the mock's true morphology adds to colour and to luminosity (catalogue only, 5-fold CV)."""
    import pandas as pd

    from mlpipe.evaluate.oracle import oracle_from_config
    from mlpipe.io.atomic import write_csv

    table = oracle_from_config(pd.read_csv(args.truth), cfg["mock"], cfg["catalog"], seed=cfg["evaluate"]["seed"],
                               n_resamples=cfg["evaluate"]["bootstrap"])
    write_csv(table, args.out)


def _importance_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--predictor", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--model", required=True, help="the predictor's LightGBM model.txt")
    p.add_argument("--out", required=True)


@command("importance", _importance_args)
def importance(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Permutation importance of one GBM predictor on the validation set."""
    from mlpipe.evaluate.importance import validation_importance
    from mlpipe.io.atomic import write_csv

    write_csv(validation_importance(table_path=args.table, model_path=args.model,
                                    repeats=cfg["evaluate"]["importance"]["repeats"], seed=cfg["evaluate"]["seed"]),
              args.out)


def _figures_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", required=True, help="features table (results/gbm/features.h5)")
    p.add_argument("--predictions", required=True, help="folder of {predictor}.csv")
    p.add_argument("--metrics", required=True, help="folder of the metric tables")
    p.add_argument("--sample", required=True, help="results/catalog/sample.csv")
    p.add_argument("--rejected", required=True, help="results/catalog/rejected.csv")
    p.add_argument("--store-index", help="CSV written by index-image-stores (example cut-outs); none in a "
                   "table-only run")
    p.add_argument("--outdir", required=True)


@command("figures", _figures_args)
def figures(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Every evaluation figure the run can draw (mlpipe/evaluate/registry.py): the paper's Figs. 1,
    2, 4-8, every main predictor's predictions and residuals, the importances of each predictor; a
    table-only run draws those that need no images."""
    from mlpipe.evaluate.figures import draw_all, read_inputs
    from mlpipe.evaluate.registry import evaluation_figures, figure_path
    from mlpipe.gbm.predictors import table_only, workflow_predictors
    from mlpipe.io.figure import save_figure

    ev = cfg["evaluate"]
    images = not table_only(cfg)
    if images and not args.store_index:
        raise InputError("figures: --store-index is required for a run with images (data.real.images set)")
    data = read_inputs(table=args.table, predictions=args.predictions, metrics=args.metrics, sample=args.sample,
                       rejected=args.rejected, store_index=args.store_index if images else None, evaluate_cfg=ev,
                       preprocess_cfg=cfg["preprocess"], predictors=list(workflow_predictors(cfg)))
    for spec, fig in draw_all(evaluation_figures(ev["importance"]["predictors"], images=images), data):
        save_figure(fig, figure_path(spec, args.outdir))
        log.info("%s written", figure_path(spec, args.outdir))


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics", required=True)
    p.add_argument("--figures", nargs="+", required=True, help="the evaluation figures (PNG), linked from the report")
    p.add_argument("--captions", nargs="*", default=[], help="report/<name>.rst caption of each figure")
    p.add_argument("--learning-curves", nargs="*", default=[], help="each CNN's learning-curve PNG")
    p.add_argument("--preprocess-figure", help="one shard's preprocessing PNG")
    p.add_argument("--cnn-metrics", nargs="*", default=[], help="metrics.json of each CNN")
    p.add_argument("--fits", nargs="*", default=[], help="fit.json of each predictor (hyperparameters and CV losses)")
    p.add_argument("--oracle", help="the mock's catalogue-level oracle (results/metrics/oracle.csv)")
    p.add_argument("--out", required=True)


@command("report", _report_args)
def report(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Write results/report.md."""
    from mlpipe.evaluate.report import write_report
    from mlpipe.gbm.predictors import table_only

    write_report(args.metrics, args.figures, args.out, cfg["data"]["source"], args.cnn_metrics,
                 cfg["catalog"]["lum_g_column"], oracle=args.oracle, captions=args.captions,
                 learning_curves=args.learning_curves, preprocess_figure=args.preprocess_figure, fit_files=args.fits,
                 images=not table_only(cfg))


def _export_bundle_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--predictor-dir", required=True, help="results/gbm/<predictor> (model.txt, fit.json, interval.json)")
    p.add_argument("--models", nargs="*", default=[],
                   help="every CNN's model.pt (results/models/<name>/model.pt); none for a predictor that reads no image")
    p.add_argument("--store-index", help="CSV written by index-image-stores: the training images, whose pixel "
                   "scale and unit the bundle records")
    p.add_argument("--out", required=True, help="the bundle (.zip) to write")


@command("export-bundle", _export_bundle_args)
def export_bundle(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Pack a trained predictor, the CNNs it reads and their config into one bundle file."""
    from pathlib import Path

    import pandas as pd

    from mlpipe.predict.bundle import export_bundle as export
    from mlpipe.predict.bundle import training_images

    files = {Path(f).parent.name: f for f in args.models}
    stores = sorted(pd.read_csv(args.store_index)["store"].unique()) if args.store_index else []
    packed = export(args.predictor_dir, files, cfg["predict"]["morphology_model"], cfg, args.out,
                    training_images(stores) if stores else {})
    log.info("bundle %s: predictor from %s, CNNs %s", args.out, args.predictor_dir, ", ".join(packed))


def _predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", required=True, help="a bundle written by export-bundle")
    p.add_argument("--catalogue", required=True,
                   help="table (CSV, FITS, ECSV, VOTable): objid, ra, dec, z [, d25_arcmin] and the photometry of the "
                        "bands the predictor uses (inputs.photometry of the bundle's config)")
    p.add_argument("--images", help="folder of g-band cut-outs {objid}.fits (predictors that read images)")
    p.add_argument("--stars", help="point-source catalogue (ra, dec, psfMag_g); none: no star prior")
    p.add_argument("--out", required=True, help="predictions CSV")
    p.add_argument("--rejected", required=True, help="CSV of galaxies that could not be predicted, with the reason")
    p.add_argument("--pixel-scale-mismatch", choices=["warn", "refuse"], default="warn",
                   help="a galaxy whose image pixel scale differs from the training images': predict it "
                   "with a warning, or reject it")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's own choice)")


@command("predict", _predict_args, needs_config=False)
def predict(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """M/L, its uncertainty, M* and GZ2 morphology for new galaxies, from a bundle."""
    from mlpipe.cnn.device import set_cpu_threads
    from mlpipe.predict.bundle import load_bundle
    from mlpipe.predict.run import predict_galaxies

    set_cpu_threads(args.threads)
    columns = cfg.get("inputs", {}).get("predict", {}).get("columns") if cfg else None
    predict_galaxies(load_bundle(args.bundle), catalogue=args.catalogue, images_dir=args.images, stars=args.stars,
                     out_path=args.out, rejected_path=args.rejected, device=args.device,
                     column_map=columns, pixel_scale_mismatch=args.pixel_scale_mismatch)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="mlpipe", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    for name, (func, arguments, needs_config) in COMMANDS.items():
        p = sub.add_parser(name, help=func.__doc__.strip().splitlines()[0], description=func.__doc__)
        group = p.add_mutually_exclusive_group(required=needs_config)
        group.add_argument("--config", nargs="+", metavar="YAML",
                           help="workflow config file(s), later ones merged over earlier ones (validated in full)")
        group.add_argument("--config-json", help="effective config as JSON (what the rules pass)")
        arguments(p)
    return top


def _message(err: BaseException) -> str:
    """One line for an expected failure: the file or key it concerns and what is wrong."""
    if isinstance(err, OSError):
        where = err.filename if err.filename is not None else ""
        what = err.strerror or str(err)
        return f"{where}: {what}" if where else what
    return str(err)


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Bad config, bad input, damaged or missing files, a full disk; an unusable image where the
    image reader was loaded (not every step's environment has astropy)."""
    errors: list[type[BaseException]] = [config_mod.ConfigError, InputError, OSError]
    fits_image = sys.modules.get("mlpipe.io.fits_image")
    if fits_image is not None:
        errors.append(fits_image.ImageError)
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    """Run one command. Every expected failure (bad config, bad or missing input file, a damaged
    store or model, a full disk) is one message on stderr and exit status 2, never a traceback."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = config_mod.load(args.config, args.config_json) if args.config or args.config_json else {}
        COMMANDS[args.command][0](args, cfg)
    except Exception as err:
        if not isinstance(err, _expected_errors()):
            raise
        log.error("mlpipe %s failed: %s", args.command, _message(err))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
