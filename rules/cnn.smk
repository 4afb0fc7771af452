# Morphology CNNs: one training job per model, one extraction job per model and shard.
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
    params:
        cfg=cnn_model_config,
        init=init_from_option,
    threads: 2
    resources:
        gpu=1,
    log:
        "results/logs/train_cnn/{model}.log",
    benchmark:
        "results/benchmarks/train_cnn/{model}.tsv"
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m mlpipe train-cnn --config-json {params.cfg:q} --model {wildcards.model} "
        "--sample {input.sample} --store-index {input.store_index} {params.init} "
        "--outdir $(dirname {output.model}) --figure {output.figure} "
        "--threads {threads} --workers $(( {threads} - 1 )) > {log} 2>&1"


rule extract_features:
    input:
        model="results/models/{model}/model.pt",
        images="results/images/shard-{shard}.h5",
    output:
        "results/features/{model}/shard-{shard}.h5",
    params:
        cfg=cnn_model_config,
    threads: 1
    resources:
        gpu=1,
    log:
        "results/logs/extract_features/{model}/shard-{shard}.log",
    benchmark:
        "results/benchmarks/extract_features/{model}/shard-{shard}.tsv"
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m mlpipe extract-features --config-json {params.cfg:q} --model-file {input.model} "
        "--images {input.images} --out {output} --threads {threads} > {log} 2>&1"
