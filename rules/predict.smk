# Model bundles and predictions for new galaxies (predict.catalogue / predict.images in the config).


rule export_bundle:
    input:
        unpack(bundle_inputs),
    output:
        "results/bundle/{predictor}.zip",
    log:
        "results/logs/export_bundle/{predictor}.log",
    benchmark:
        "results/benchmarks/export_bundle/{predictor}.tsv"
    conda:
        "../envs/predict.yaml"
    params:
        cfg=stage_config("cosmology", "catalog", "preprocess", "cnn", "gbm", "predict", "inputs.photometry", "inputs.predict"),
        predictor_dir=input_folder("model"),
        store_index=store_index_option,
    shell:
        "python -m mlpipe export-bundle --config-json {params.cfg:q} --predictor-dir {params.predictor_dir} "
        "--models {input.models} {params.store_index} --out {output} > {log} 2>&1"


rule predict:
    input:
        unpack(predict_inputs),
    output:
        predictions="results/predict/predictions.csv",
        rejected="results/predict/rejected.csv",
    log:
        "results/logs/predict.log",
    benchmark:
        "results/benchmarks/predict.tsv"
    conda:
        "../envs/predict.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        images=predict_images_option,
        stars=predict_stars_option,
        pixel_scale=config["predict"]["pixel_scale_mismatch"],
    shell:
        "python -m mlpipe predict --bundle {input.bundle} --catalogue {input.catalogue} "
        "{params.images} {params.stars} --out {output.predictions} "
        "--rejected {output.rejected} --pixel-scale-mismatch {params.pixel_scale} --threads {threads} > {log} 2>&1"
