# The embedded mock survey: catalogues in the published layouts and per-shard g-band cut-outs.


rule mock_catalogues:
    output:
        gswlc="results/mock/GSWLC-X2.dat",
        hyperleda="results/mock/hyperleda.csv",
        gz2="results/mock/gz2_hart16.csv",
        photometry="results/mock/sdss_photometry.csv",
        stars="results/mock/stars.csv",
        truth="results/mock/truth.csv",
    log:
        "results/logs/mock_catalogues.log",
    benchmark:
        "results/benchmarks/mock_catalogues.tsv"
    conda:
        "../envs/astro.yaml"
    params:
        cfg=stage_config("mock", "cosmology"),
    shell:
        "python -m mlpipe mock-catalogues --config-json {params.cfg:q} --outdir $(dirname {output.truth}) > {log} 2>&1"


rule mock_images:
    input:
        shards=shard_catalogue_folder,
        truth="results/mock/truth.csv",
        stars="results/mock/stars.csv",
    output:
        directory("results/mock/images/shard-{shard}"),
    log:
        "results/logs/mock_images/shard-{shard}.log",
    benchmark:
        "results/benchmarks/mock_images/shard-{shard}.tsv"
    conda:
        "../envs/astro.yaml"
    params:
        cfg=stage_config("mock", "cosmology"),
    shell:
        "python -m mlpipe mock-images --config-json {params.cfg:q} --shard-catalogue {input.shards}/shard-{wildcards.shard}.csv "
        "--truth {input.truth} --stars {input.stars} --outdir {output} > {log} 2>&1"
