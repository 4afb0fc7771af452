# Evaluation: metric tables, permutation importances, figures and the report.


rule evaluate:
    input:
        table="results/gbm/features.h5",
        predictions=expand("results/predictions/{predictor}.csv", predictor=PREDICTORS),
    output:
        expand("results/metrics/{name}.csv", name=METRIC_TABLES),
    log:
        "results/logs/evaluate.log",
    benchmark:
        "results/benchmarks/evaluate.tsv"
    conda:
        "../envs/gbm.yaml"
    params:
        cfg=stage_config("gbm", "evaluate", "data.source", "data.real"),
        predictions=input_folder("predictions"),
        outdir=output_folder,
    shell:
        "python -m mlpipe evaluate --config-json {params.cfg:q} --table {input.table} "
        "--predictions {params.predictions} --outdir {params.outdir} > {log} 2>&1"


rule mock_oracle:
    input:
        truth=rules.mock_catalogues.output.truth,
    output:
        "results/metrics/oracle.csv",
    log:
        "results/logs/mock_oracle.log",
    benchmark:
        "results/benchmarks/mock_oracle.tsv"
    conda:
        "../envs/gbm.yaml"
    params:
        cfg=stage_config("mock", "catalog", "evaluate"),
    shell:
        "python -m mlpipe mock-oracle --config-json {params.cfg:q} --truth {input.truth} --out {output} > {log} 2>&1"


rule permutation_importance:
    input:
        table="results/gbm/features.h5",
        model="results/gbm/{predictor}/model.txt",
    output:
        "results/metrics/importance_{predictor}.csv",
    log:
        "results/logs/permutation_importance/{predictor}.log",
    benchmark:
        "results/benchmarks/permutation_importance/{predictor}.tsv"
    conda:
        "../envs/gbm.yaml"
    params:
        cfg=stage_config("evaluate"),
    shell:
        "python -m mlpipe importance --config-json {params.cfg:q} --predictor {wildcards.predictor} "
        "--table {input.table} --model {input.model} --out {output} > {log} 2>&1"


rule figures:
    input:
        unpack(figures_inputs),
    output:
        [
            report(path, category="Evaluation", caption=f"../report/{spec.caption_name}.rst")
            for path, spec in zip(FIGURES, FIGURE_SPECS)
        ],
    log:
        "results/logs/figures.log",
    benchmark:
        "results/benchmarks/figures.tsv"
    conda:
        "../envs/gbm.yaml"
    params:
        cfg=stage_config("evaluate", "preprocess", "gbm", "data.source", "data.real"),
        predictions=input_folder("predictions"),
        metrics=input_folder("metrics"),
        store_index=store_index_option,
        outdir=output_folder,
    shell:
        "python -m mlpipe figures --config-json {params.cfg:q} --table {input.table} "
        "--predictions {params.predictions} --metrics {params.metrics} --sample {input.sample} "
        "--rejected {input.rejected} {params.store_index} "
        "--outdir {params.outdir} > {log} 2>&1"


rule report:
    input:
        metrics=expand("results/metrics/{name}.csv", name=METRIC_TABLES),
        figures=FIGURES,
        captions=CAPTIONS,
        cnn_metrics=expand("results/models/{model}/metrics.json", model=MODELS),
        fits=expand("results/gbm/{predictor}/fit.json", predictor=PREDICTORS),
        curves=expand("results/figures/cnn/{model}_learning_curve.png", model=MODELS),
        preprocess=preprocess_figure,
        oracle=oracle_tables,
    output:
        "results/report.md",
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        "../envs/gbm.yaml"
    params:
        cfg=stage_config("data", "catalog"),
        metrics=input_folder("metrics"),
        oracle=oracle_option,
        preprocess=preprocess_figure_option,
    shell:
        "python -m mlpipe report --config-json {params.cfg:q} --metrics {params.metrics} "
        "--figures {input.figures} --captions {input.captions} --cnn-metrics {input.cnn_metrics} {params.oracle} --fits {input.fits} "
        "--learning-curves {input.curves} {params.preprocess} --out {output} > {log} 2>&1"
