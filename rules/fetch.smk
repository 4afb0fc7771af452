# Optional download of each shard's missing g-band cut-outs into data.real.images
# (data.fetch.enabled: true; needs internet). The default mock workflow and the tests never run it.


checkpoint fetch_images:
    input:
        shards=shard_catalogue_folder,
    output:
        "results/fetch/shard-{shard}.csv",
    log:
        "results/logs/fetch/shard-{shard}.log",
    benchmark:
        "results/benchmarks/fetch/shard-{shard}.tsv"
    conda:
        "../envs/astro.yaml"
    params:
        cfg=stage_config("data"),
        images=config["data"]["real"]["images"],
    shell:
        "python -m mlpipe fetch-images --config-json {params.cfg:q} --shard-catalogue {input.shards}/shard-{wildcards.shard}.csv "
        "--images {params.images} --report {output} > {log} 2>&1"
