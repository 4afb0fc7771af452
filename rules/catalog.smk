# The galaxy sample: cross-match GSWLC-2 / SDSS photometry / HyperLeda / GZ2, cuts, targets, split, shards.


checkpoint build_sample:
    input:
        unpack(survey_catalogues),
    output:
        sample="results/catalog/sample.csv",
        rejected="results/catalog/rejected.csv",
        # The folder of the shard catalogues shard-K.csv: one output, not n (Snakemake matches every
        # requested file against each output pattern of a rule, O(n^2) for n patterns).
        shards=directory("results/catalog/shards"),
    log:
        "results/logs/build_sample.log",
    benchmark:
        "results/benchmarks/build_sample.tsv"
    conda:
        "../envs/astro.yaml"
    params:
        optional=optional_catalogues,
        cfg=stage_config("catalog", "cosmology", "inputs.gswlc", "inputs.hyperleda", "inputs.gz2", "inputs.photometry"),
    shell:
        "python -m mlpipe build-sample --config-json {params.cfg:q} --gswlc {input.gswlc} "
        "{params.optional} --photometry {input.photometry} "
        "--outdir $(dirname {output.sample}) > {log} 2>&1"
