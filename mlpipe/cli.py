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

log = logging.getLogger("mlpipe")
COMMANDS: dict[str, tuple[Callable[[argparse.Namespace, dict[str, Any]], None], Callable[[argparse.ArgumentParser], None]]] = {}


def command(name: str, arguments: Callable[[argparse.ArgumentParser], None]):
    """Register a subcommand: ``arguments`` adds its options; the function runs it."""
    def register(func):
        COMMANDS[name] = (func, arguments)
        return func
    return register


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
    for name in ("gswlc", "hyperleda", "gz2", "photometry"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--outdir", required=True)


@command("build-sample", _build_sample_args)
def build_sample(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Cross-match the catalogues, apply the cuts, compute M/L, split and shard."""
    from mlpipe.catalog.sample import build_sample as build, write_sample

    paths = {k: getattr(args, k) for k in ("gswlc", "hyperleda", "gz2", "photometry")}
    sample, rejected = build(paths, cfg["catalog"], cfg["cosmology"])
    write_sample(sample, rejected, cfg["catalog"]["n_shards"], args.outdir)
    log.info("sample: %d galaxies, %d rejected", len(sample), len(rejected))


def _preprocess_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shard-catalogue", required=True)
    p.add_argument("--images", required=True, help="folder with {objid}.fits cut-outs")
    p.add_argument("--stars", required=True, help="point-source catalogue")
    p.add_argument("--sizes", required=True, type=int, nargs="+", help="output image sizes (px)")
    p.add_argument("--out", required=True, help="HDF5 image store to write")
    p.add_argument("--figure", required=True, help="PNG of a few galaxies before and after")


@command("preprocess", _preprocess_args)
def preprocess(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Preprocess one shard's cut-outs into an HDF5 image store."""
    from mlpipe.preprocess.figure import preprocessing_figure
    from mlpipe.preprocess.shard import process_shard

    _, shown = process_shard(args.shard_catalogue, args.images, args.stars, sorted(set(args.sizes)),
                             cfg["preprocess"], cfg["cosmology"], args.out,
                             cfg["preprocess"]["figure_galaxies"])
    preprocessing_figure(shown, args.figure, f"preprocessing of {args.shard_catalogue}")


def _train_cnn_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a name under cnn.models")
    p.add_argument("--sample", required=True)
    p.add_argument("--stores", required=True, nargs="+", help="the per-shard image stores")
    p.add_argument("--init-from", help="model.pt of the network to start from (CNN 4)")
    p.add_argument("--outdir", required=True)
    p.add_argument("--figure", required=True, help="learning-curve PNG")
    p.add_argument("--workers", type=int, default=0, help="data-loading processes")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


@command("train-cnn", _train_cnn_args)
def train_cnn(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Train one CNN (resumes from its last checkpoint when one exists)."""
    import pandas as pd

    from mlpipe.cnn.curves import learning_curve
    from mlpipe.cnn.train import train_model

    train_model(args.model, cfg["cnn"], args.sample, args.stores, args.outdir, args.init_from,
                args.workers, args.device)
    target = cfg["cnn"]["models"][args.model]["target"]
    learning_curve(pd.read_csv(f"{args.outdir}/history.csv"), args.model,
                   "MSE of the 37 GZ2 probabilities" if target == "gz2" else "weighted L1 of M/L",
                   args.figure)


def _extract_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-file", required=True, help="model.pt written by train-cnn")
    p.add_argument("--images", required=True, help="one shard's image store")
    p.add_argument("--out", required=True)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="auto")


@command("extract-features", _extract_args)
def extract_features(args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """Write one shard's CNN features for one trained model."""
    from mlpipe.cnn.extract import extract_shard

    extract_shard(args.model_file, args.images, args.out, workers=args.workers, device_name=args.device)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="mlpipe", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    for name, (func, arguments) in COMMANDS.items():
        p = sub.add_parser(name, help=func.__doc__.strip().splitlines()[0], description=func.__doc__)
        group = p.add_mutually_exclusive_group(required=True)
        group.add_argument("--config", help="workflow config YAML (validated)")
        group.add_argument("--config-json", help="effective config as JSON (what the rules pass)")
        arguments(p)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = config_mod.load(args.config, args.config_json)
    except config_mod.ConfigError as err:
        log.error("%s", err)
        return 2
    COMMANDS[args.command][0](args, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
