# mlpipe: galaxy mass-to-light ratios from g-band morphology (Dobbels et al. 2019).
# Run: snakemake --cores N   (or --profile profiles/slurm on a cluster). See README.md.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "workflow_config.yaml"


validate(config, "mlpipe/schemas/config.schema.yaml")


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
    input:
        final_outputs(),
    default_target: True
