# mlpipe: galaxy mass-to-light ratios from g-band morphology (Dobbels et al. 2019).
# Run: snakemake --cores N   (or --profile profiles/slurm on a cluster). See README.md.
import os

from snakemake.utils import min_version

min_version("9.0")


# workflow_config.yaml of the working directory if there is one, else the workflow's own (so that
# `snakemake --directory elsewhere --configfile mine.yaml` merges over the defaults); validated
# against mlpipe/schemas/config.schema.yaml by rules/common.smk.
configfile: "workflow_config.yaml" if os.path.exists("workflow_config.yaml") else f"{workflow.basedir}/workflow_config.yaml"


include: "rules/common.smk"
include: "rules/mock.smk"
include: "rules/catalog.smk"
include: "rules/fetch.smk"
include: "rules/preprocess.smk"
include: "rules/cnn.smk"
include: "rules/gbm.smk"
include: "rules/evaluate.smk"
include: "rules/predict.smk"


# Under a cluster profile these run on the submitting host, not as jobs: each takes about a second
# and little memory at any sample size (a list of the image stores' rows; the report's text).
localrules:
    all,
    index_image_stores,
    report,


rule all:
    default_target: True
    input:
        final_outputs(),
