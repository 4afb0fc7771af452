# Per-shard image preprocessing: cut-out, sky, stars, luminosity features, log scaling, resizing.


rule preprocess_shard:
    input:
        shards=shard_catalogue_folder,
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
    log:
        "results/logs/preprocess/shard-{shard}.log",
    benchmark:
        "results/benchmarks/preprocess/shard-{shard}.tsv"
    conda:
        "../envs/astro.yaml"
    params:
        cfg=preprocess_config(),
        folder=shard_image_folder,
        sizes=image_sizes(),
        index=image_index_option,
    shell:
        "python -m mlpipe preprocess --config-json {params.cfg:q} --shard-catalogue {input.shards}/shard-{wildcards.shard}.csv "
        "--images {params.folder} {params.index} --stars {input.stars} --sizes {params.sizes} "
        "--out {output.store} --figure {output.figure} > {log} 2>&1"


rule index_image_stores:
    input:
        expand("results/images/shard-{shard}.h5", shard=SHARDS),
    output:
        "results/images/stores.csv",
    log:
        "results/logs/index_image_stores.log",
    benchmark:
        "results/benchmarks/index_image_stores.tsv"
    conda:
        "../envs/astro.yaml"
    params:
        folder=input_folder(0),
        shards=len(SHARDS),
    shell:
        "python -m mlpipe index-image-stores --images-dir {params.folder} --shards {params.shards} --out {output} > {log} 2>&1"
