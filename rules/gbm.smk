# The features table and one job per M/L predictor (LightGBM or the g-i power law).


rule gbm_table:
    input:
        unpack(gbm_table_inputs),
    output:
        table="results/gbm/features.h5",
        dropped="results/gbm/dropped_features.csv",
    log:
        "results/logs/gbm_table.log",
    benchmark:
        "results/benchmarks/gbm_table.tsv"
    conda:
        "../envs/gbm.yaml"
    params:
        cfg=stage_config("cosmology"),
        options=gbm_table_options,
    shell:
        "python -m mlpipe gbm-table --config-json {params.cfg:q} --sample {input.sample} "
        "{params.options} --out {output.table} --dropped {output.dropped} > {log} 2>&1"


rule train_predictor:
    input:
        table="results/gbm/features.h5",
    output:
        model="results/gbm/{predictor}/model.txt",
        info="results/gbm/{predictor}/fit.json",
        interval="results/gbm/{predictor}/interval.json",
        predictions="results/predictions/{predictor}.csv",
    log:
        "results/logs/train_predictor/{predictor}.log",
    benchmark:
        "results/benchmarks/train_predictor/{predictor}.tsv"
    conda:
        "../envs/gbm.yaml"
    threads: 1
    params:
        cfg=stage_config("gbm"),
    shell:
        "python -m mlpipe train-predictor --config-json {params.cfg:q} --predictor {wildcards.predictor} "
        "--table {input.table} --model {output.model} --info {output.info} --interval {output.interval} "
        "--predictions {output.predictions} --threads {threads} > {log} 2>&1"
