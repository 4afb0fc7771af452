# Evaluation: metric tables, permutation importances, figures and the report.


rule evaluate:
    input:
        table="results/gbm/features.h5",
        predictions=expand("results/predictions/{predictor}.csv", predictor=PREDICTORS),
    output:
        expand("results/metrics/{name}.csv", name=METRIC_TABLES),
    params:
        cfg=stage_config("gbm", "evaluate", "data.source", "data.real"),
        predictions=input_folder("predictions"),
        outdir=output_folder,
    log:
        "results/logs/evaluate.log",
    benchmark:
        "results/benchmarks/evaluate.tsv"
    conda:
        "../envs/gbm.yaml"
    shell:
        "python -m mlpipe evaluate --config-json {params.cfg:q} --table {input.table} "
        "--predictions {params.predictions} --outdir {params.outdir} > {log} 2>&1"


rule permutation_importance:
    input:
        table="results/gbm/features.h5",
        model="results/gbm/{predictor}/model.txt",
    output:
        "results/metrics/importance_{predictor}.csv",
    params:
        cfg=stage_config("evaluate"),
    log:
        "results/logs/permutation_importance/{predictor}.log",
    benchmark:
        "results/benchmarks/permutation_importance/{predictor}.tsv"
    conda:
        "../envs/gbm.yaml"
    shell:
        "python -m mlpipe importance --config-json {params.cfg:q} --predictor {wildcards.predictor} "
        "--table {input.table} --model {input.model} --out {output} > {log} 2>&1"


rule figures:
    input:
        table="results/gbm/features.h5",
        predictions=expand("results/predictions/{predictor}.csv", predictor=PREDICTORS),
        metrics=expand("results/metrics/{name}.csv", name=METRIC_TABLES),
        importance=expand("results/metrics/importance_{predictor}.csv", predictor=IMPORTANCE),
    output:
        [report(f, category="Evaluation", caption="../report/figures.rst") for f in FIGURES],
    params:
        cfg=stage_config("gbm", "evaluate", "data.source", "data.real"),
        predictions=input_folder("predictions"),
        metrics=input_folder("metrics"),
        outdir=output_folder,
    log:
        "results/logs/figures.log",
    benchmark:
        "results/benchmarks/figures.tsv"
    conda:
        "../envs/gbm.yaml"
    shell:
        "python -m mlpipe figures --config-json {params.cfg:q} --table {input.table} "
        "--predictions {params.predictions} --metrics {params.metrics} "
        "--outdir {params.outdir} > {log} 2>&1"


rule report:
    input:
        metrics=expand("results/metrics/{name}.csv", name=METRIC_TABLES),
        figures=FIGURES,
        cnn_metrics=expand("results/models/{model}/metrics.json", model=MODELS),
        fits=expand("results/gbm/{predictor}/fit.json", predictor=PREDICTORS),
    output:
        "results/report.md",
    params:
        cfg=stage_config("data", "catalog"),
        metrics=input_folder("metrics"),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        "../envs/gbm.yaml"
    shell:
        "python -m mlpipe report --config-json {params.cfg:q} --metrics {params.metrics} "
        "--figures {input.figures} --cnn-metrics {input.cnn_metrics} --fits {input.fits} --out {output} > {log} 2>&1"
