# Morphology CNNs: one training job and one extraction job per model (the extraction writes every
# shard's feature store in one process, so its start-up is paid once per model, not per shard).
# GPU rules declare resources gpu=1 (the Slurm plugin turns it into --gpus=1).


rule train_cnn:
    input:
        unpack(cnn_training_inputs),
    output:
        model="results/models/{model}/model.pt",
        history="results/models/{model}/history.csv",
        metrics="results/models/{model}/metrics.json",
        figure=report(
            "results/figures/cnn/{model}_learning_curve.png",
            caption="../report/learning_curve.rst",
            category="CNN training",
        ),
    log:
        "results/logs/train_cnn/{model}.log",
    benchmark:
        "results/benchmarks/train_cnn/{model}.tsv"
    # Trainings before extractions: each extraction takes one thread, so they pair up on the
    # cores after the last training instead of leaving a core idle beside a lone extraction.
    priority: 1
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        cfg=cnn_model_config,
        init=init_from_option,
    shell:
        "python -m mlpipe train-cnn --config-json {params.cfg:q} --model {wildcards.model} "
        "--sample {input.sample} --store-index {input.store_index} {params.init} "
        "--outdir $(dirname {output.model}) --figure {output.figure} "
        "--threads {threads} > {log} 2>&1"


rule extract_features:
    input:
        model="results/models/{model}/model.pt",
        store_index="results/images/stores.csv",
    output:
        # The folder of the per-shard stores shard-K.h5: one output, not n (Snakemake matches every
        # requested file against each output pattern of a rule, O(n^2) for n patterns).
        directory("results/features/{model}"),
    log:
        "results/logs/extract_features/{model}.log",
    benchmark:
        "results/benchmarks/extract_features/{model}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        cfg=cnn_extraction_config,
        images=input_folder("store_index"),
        shards=len(SHARDS),
    shell:
        "python -m mlpipe extract-features --config-json {params.cfg:q} --model-file {input.model} "
        "--images-dir {params.images} --shards {params.shards} --outdir {output} "
        "--threads {threads} > {log} 2>&1"
