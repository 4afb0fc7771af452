# Per-shard image preprocessing: cut-out, sky, stars, luminosity features, log scaling, resizing.


rule preprocess_shard:
    input:
        shard="results/catalog/shards/shard-{shard}.csv",
        folder=shard_image_folder,
        images=shard_images,
        index=image_index_inputs,
        stars=star_catalogue,
    output:
        store="results/images/shard-{shard}.h5",
        figure=report(
            "results/figures/preprocess/shard-{shard}.png",
            caption="../report/preprocess.rst",
            category="Preprocessing",
        ),
    params:
        cfg=stage_config("preprocess", "cosmology"),
        sizes=image_sizes(),
        index=image_index_option,
    log:
        "results/logs/preprocess/shard-{shard}.log",
    benchmark:
        "results/benchmarks/preprocess/shard-{shard}.tsv"
    conda:
        "../envs/astro.yaml"
    shell:
        "python -m mlpipe preprocess --config-json {params.cfg:q} --shard-catalogue {input.shard} "
        "--images {input.folder} {params.index} --stars {input.stars} --sizes {params.sizes} "
        "--out {output.store} --figure {output.figure} > {log} 2>&1"
