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


rule all:
    default_target: True
    input:
        final_outputs(),
