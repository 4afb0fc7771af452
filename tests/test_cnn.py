"""CNNs: the GZ2 normalisation layer, architectures, training, resume and extraction."""


import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from mlpipe import gz2
from mlpipe.cnn.data import GZ2_COLUMNS, MemorySplit, StoreStream, augment, training_table
from mlpipe.cnn.extract import extract_shard, extract_stores
from mlpipe.cnn.models import DielemanBackbone, build_model, load_pretrained, model_from_config
from mlpipe.cnn.normalization import GZ2Normalisation
from mlpipe.cnn.train import load_optimizer_state, loss_fn, train_model
from mlpipe.io.integrity import IntegrityError
from mlpipe.io.store import create_store, read_features, store_index


def test_normalisation_layer_matches_tree_and_numpy():
    torch.manual_seed(0)
    raw = torch.relu(torch.randn(64, 37))
    p = GZ2Normalisation()(raw)
    np.testing.assert_allclose(p.numpy(), gz2.normalise(raw.numpy()), atol=1e-6)
    for q, sl in zip(gz2.QUESTIONS, gz2.question_slices()):
        total = p[:, sl].sum(1)
        nonzero = raw[:, sl].sum(1) > 0
        asked = torch.ones(64) if q.parent is None else p[:, q.parent]
        assert torch.allclose(total[nonzero], asked[nonzero], atol=1e-6)


def test_normalisation_layer_gradients_finite_with_dead_question():
    raw = torch.rand(4, 37)
    raw[:, 18:25] = 0.0  # question 8 all zero
    raw.requires_grad_(True)
    p = GZ2Normalisation()(raw)
    assert torch.all(p[:, 18:25] == 0)
    (p ** 2).sum().backward()
    assert torch.isfinite(raw.grad).all() and raw.grad.abs().sum() > 0


def test_custom_cnn_shapes_follow_the_paper():
    net = DielemanBackbone()
    sizes = []
    x = torch.zeros(2, 1, 69, 69)
    for layer in net.features:
        x = layer(x)
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.MaxPool2d)):
            sizes.append(x.shape[-1])
    assert sizes == [65, 32, 29, 14, 12, 6, 4]
    assert x.shape == (2, 512)


def test_every_architecture_the_schema_allows_is_one_the_code_builds():
    from mlpipe.cnn.models import ARCHITECTURES
    from mlpipe.config import schema

    models = schema()["properties"]["cnn"]["properties"]["models"]["additionalProperties"]
    assert sorted(models["properties"]["architecture"]["enum"]) == sorted(ARCHITECTURES)


def test_every_precision_the_schema_allows_is_one_the_code_knows():
    from mlpipe.cnn.device import PRECISIONS
    from mlpipe.config import schema

    cnn = schema()["properties"]["cnn"]["properties"]
    assert sorted(cnn["precision"]["enum"]) == sorted(PRECISIONS)


def test_pretrained_path_missing_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot be downloaded"):
        build_model(architecture="resnet50", task="gz2", image_size_px=32, pretrained_path=str(tmp_path / "nope.pth"))


def test_pretrained_local_file_loads(tmp_path):
    import timm

    donor = timm.create_model("resnet50", pretrained=False, num_classes=0)
    torch.save(donor.state_dict(), tmp_path / "w.pth")
    model = build_model(architecture="resnet50", task="gz2", image_size_px=32, pretrained_path=str(tmp_path / "w.pth"))
    assert torch.equal(model.backbone.conv1.weight, donor.conv1.weight)
    backbone = timm.create_model("resnet50", pretrained=False, num_classes=0)
    load_pretrained(backbone, str(tmp_path / "w.pth"))


def test_augment_keeps_shape_and_is_seeded():
    images = torch.rand(5, 1, 32, 32)
    a = augment(images, torch.Generator().manual_seed(1), (0.7, 1.3))
    b = augment(images, torch.Generator().manual_seed(1), (0.7, 1.3))
    assert a.shape == images.shape and torch.equal(a, b) and not torch.equal(a, images)


SIZE = 48


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Two shards of synthetic galaxies: round blobs ("smooth") and thin bars ("edge-on")."""
    tmp = tmp_path_factory.mktemp("cnn")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    rows, stores = [], []
    for shard in range(2):
        ids, images = [], []
        for i in range(48):
            objid = shard * 1000 + i
            edge_on = rng.random() < 0.5
            if edge_on:
                img = np.exp(-(xx / 8) ** 2 - (yy / 1.5) ** 2)
            else:
                img = np.exp(-(xx ** 2 + yy ** 2) / 30)
            ids.append(objid)
            images.append((img + rng.normal(0, 0.05, img.shape)).astype(np.float32))
            raw = np.full(37, 0.5)
            raw[0:3] = [0.1, 0.9, 0.0] if edge_on else [0.9, 0.1, 0.0]
            raw[3:5] = [0.9, 0.1] if edge_on else [0.1, 0.9]
            split = "validation" if i % 4 == 0 else "train"
            rows.append({"objid": objid, "split": split, "gz2_match": True, "ml": 3.0 if edge_on else 1.0,
                         "ml_err": 0.1} | dict(zip(GZ2_COLUMNS, gz2.normalise(raw))))
        path = tmp / f"shard-{shard}.h5"
        with create_store(path) as fh:
            fh.create_dataset("objid", data=np.array(ids))
            fh.create_dataset(f"images/{SIZE}", data=np.stack(images))
        stores.append(str(path))
    pd.DataFrame(rows).to_csv(tmp / "sample.csv", index=False)
    store_index(stores).to_csv(tmp / "stores.csv", index=False)   # what index-image-stores writes
    return tmp, stores


def _cfg(epochs=2):
    models = {
        "cnn1": {"architecture": "resnet50", "image_size": SIZE, "target": "gz2", "export_pooled": True},
        "cnn2": {"architecture": "xception", "image_size": SIZE, "target": "gz2"},
        "cnn3": {"architecture": "custom", "image_size": SIZE, "target": "gz2"},
        "cnn4": {"architecture": "resnet50", "image_size": SIZE, "target": "ml", "init_from": "cnn1"},
    }
    return {"seed": 3, "models": models,
            "training": {"epochs": epochs, "batch_size": 8, "learning_rate": 0.001, "lr_factor": 0.3,
                         "lr_patience": 4, "augment": True, "zoom_range": [0.9, 1.1]}}


def _train(tmp, name, cfg, out_dir, **kwargs):
    """train_model on the tiny data set's sample and image-store index."""
    return train_model(name, cnn_cfg=cfg, sample_csv=tmp / "sample.csv", store_index_csv=tmp / "stores.csv",
                       out_dir=out_dir, **kwargs)


@pytest.mark.parametrize("name", ["cnn1", "cnn2", "cnn3"])
def test_each_gz2_model_trains_and_loss_falls(tiny_data, tmp_path, name):
    tmp, stores = tiny_data
    cfg = _cfg(epochs=3)
    _train(tmp, name, cfg, tmp_path / name, checkpoint_interval_s=600)
    history = pd.read_csv(tmp_path / name / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3]
    assert not (tmp_path / name / "checkpoint").exists()    # 600 s never passed: no checkpoint was written
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    saved = torch.load(tmp_path / name / "model.pt", weights_only=False)
    assert saved["name"] == name and set(saved["metrics"]) >= {"rmse", "rmse_training_mean"}


def test_finetuned_model_starts_from_parent_and_extraction(tiny_data, tmp_path):
    tmp, stores = tiny_data
    cfg = _cfg(epochs=1)
    _train(tmp, "cnn1", cfg, tmp_path / "cnn1")
    parent = torch.load(tmp_path / "cnn1" / "model.pt", weights_only=False)["state_dict"]
    cfg["models"]["cnn4"]["epochs"] = 0 + 1
    cfg["models"]["cnn4"]["learning_rate"] = 1e-12  # barely moves: the weights must be the parent's
    metrics = _train(tmp, "cnn4", cfg, tmp_path / "cnn4",
                          init_state=tmp_path / "cnn1" / "model.pt")
    child = torch.load(tmp_path / "cnn4" / "model.pt", weights_only=False)["state_dict"]
    assert torch.allclose(child["backbone.conv1.weight"], parent["backbone.conv1.weight"], atol=1e-6)
    assert "output.weight" in child and "l1" in metrics

    out1, out2 = tmp_path / "f1.h5", tmp_path / "f2.h5"
    extract_shard(tmp_path / "cnn1" / "model.pt", image_store=stores[0], out_path=out1)
    extract_shard(tmp_path / "cnn1" / "model.pt", image_store=stores[0], out_path=out2)
    f1, f2 = read_features(out1), read_features(out2)
    assert f1.equals(f2)  # deterministic
    assert f1.shape == (48, 37 + 2048)
    assert "cnn1_gz2_q01_smooth_or_features_smooth" in f1.columns and "cnn1_pool_2047" in f1.columns
    q1 = f1[[c for c in f1.columns if c.startswith("cnn1_gz2_q01")]].sum(axis=1)
    assert np.allclose(q1, 1.0, atol=1e-5)
    extract_shard(tmp_path / "cnn4" / "model.pt", image_store=stores[1], out_path=tmp_path / "f4.h5")
    f4 = read_features(tmp_path / "f4.h5")
    assert list(f4.columns[:2]) == ["cnn4_hidden_00", "cnn4_hidden_01"] and "cnn4_ml" in f4.columns
    with h5py.File(stores[1]) as fh:
        assert list(f4.index) == list(fh["objid"][()])
        ids, images = fh["objid"][()], fh[f"images/{SIZE}"][()]
    # a galaxy's features do not depend on how many galaxies share its store (what lets
    # `mlpipe predict` reproduce the workflow): the last 8 galaxies alone give the same numbers
    with create_store(tmp_path / "few.h5") as fh:
        fh.create_dataset("objid", data=ids[-8:])
        fh.create_dataset(f"images/{SIZE}", data=images[-8:])
    extract_shard(tmp_path / "cnn4" / "model.pt", image_store=tmp_path / "few.h5", out_path=tmp_path / "f4_few.h5")
    few = read_features(tmp_path / "f4_few.h5")
    assert np.array_equal(few.to_numpy(), f4.loc[few.index].to_numpy())

    # the workflow's extraction: one process over every store (streamed, each padded on its own)
    # writes what one process per store writes, bit for bit
    outs = [tmp_path / f"all-{k}.h5" for k in range(3)]
    assert extract_stores(tmp_path / "cnn4" / "model.pt", image_stores=[stores[0], stores[1], tmp_path / "few.h5"],
                          out_paths=outs) == 48 + 48 + 8
    extract_shard(tmp_path / "cnn4" / "model.pt", image_store=stores[0], out_path=tmp_path / "f4_0.h5")
    for out, alone in zip(outs, [tmp_path / "f4_0.h5", tmp_path / "f4.h5", tmp_path / "f4_few.h5"]):
        pd.testing.assert_frame_equal(read_features(out), read_features(alone), check_exact=True)
    # a store without the model's image size is a clear error, and nothing is written for it
    with create_store(tmp_path / "other.h5") as fh:
        fh.create_dataset("objid", data=ids[:2])
        fh.create_dataset("images/32", data=images[:2, :32, :32])
    with pytest.raises(ValueError, match=r"other.h5: no images of 48 px in this store \(it has 32\)"):
        extract_stores(tmp_path / "cnn4" / "model.pt", image_stores=[stores[0], tmp_path / "other.h5"],
                       out_paths=[tmp_path / "x0.h5", tmp_path / "x1.h5"])
    assert not (tmp_path / "x1.h5").exists()


def test_training_split_is_read_once_and_batches_follow_a_seeded_permutation(tiny_data):
    tmp, stores = tiny_data
    table = training_table(pd.read_csv(tmp / "sample.csv"), pd.read_csv(tmp / "stores.csv"), "gz2", "validation")
    split = MemorySplit(table, SIZE, "gz2", torch.device("cpu"))
    assert split.placement == "host" and split.images.shape == (len(table), 1, SIZE, SIZE)
    for store in stores:
        mine = np.flatnonzero(table["store"] == store)
        with h5py.File(store) as fh:
            assert np.array_equal(split.images[torch.from_numpy(mine), 0].numpy(),
                                  fh[f"images/{SIZE}"][()][table["row"].to_numpy()[mine]])
    np.testing.assert_array_equal(split.truth.numpy(), table[GZ2_COLUMNS].to_numpy(np.float32))

    def drawn(generator):
        return [torch.cat(parts) for parts in zip(*split.batches(5, generator))]

    images, truth, _ = drawn(torch.Generator().manual_seed(7))
    order = torch.randperm(len(table), generator=torch.Generator().manual_seed(7))
    assert torch.equal(images, split.images[order]) and torch.equal(truth, split.truth[order])
    assert all(torch.equal(a, b) for a, b in zip(drawn(torch.Generator().manual_seed(7)), (images, truth)))
    assert not torch.equal(drawn(torch.Generator().manual_seed(8))[0], images)
    assert torch.equal(drawn(None)[0], split.images)            # no generator: in order (validation)


def test_resume_continues_history_and_equals_uninterrupted(tiny_data, tmp_path, monkeypatch, caplog):
    """An interrupted run resumes from its checkpoint to the uninterrupted model; a run with fewer
    epochs than the checkpoint's never continues it (the model depends on the config only)."""
    import mlpipe.cnn.train as train

    tmp, stores = tiny_data
    _train(tmp, "cnn3", _cfg(epochs=3), tmp_path / "straight", checkpoint_interval_s=0)
    straight = pd.read_csv(tmp_path / "straight" / "history.csv")

    calls = {"n": 0}
    evaluate = train.evaluate

    def interrupted(*args, **kwargs):   # fails in the third epoch, after two checkpoints
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(train, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp, "cnn3", _cfg(epochs=3), tmp_path / "resumed", checkpoint_interval_s=0)
    monkeypatch.undo()
    assert not (tmp_path / "resumed" / "model.pt").exists()
    with caplog.at_level("INFO"):
        _train(tmp, "cnn3", _cfg(epochs=3), tmp_path / "resumed", checkpoint_interval_s=0)
    assert "resuming after epoch 2" in caplog.text
    resumed = pd.read_csv(tmp_path / "resumed" / "history.csv")
    assert list(resumed["epoch"]) == [1, 2, 3]
    np.testing.assert_allclose(resumed["val_loss"], straight["val_loss"], rtol=1e-6)
    a = torch.load(tmp_path / "straight" / "model.pt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "resumed" / "model.pt", weights_only=False)["state_dict"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)

    caplog.clear()
    with caplog.at_level("INFO"):
        _train(tmp, "cnn3", _cfg(epochs=2), tmp_path / "straight", checkpoint_interval_s=0)
    assert "ignoring a checkpoint made with other settings" in caplog.text
    shorter = pd.read_csv(tmp_path / "straight" / "history.csv")
    assert list(shorter["epoch"]) == [1, 2]
    np.testing.assert_allclose(shorter["val_loss"], straight["val_loss"].iloc[:2], rtol=1e-6)


def test_bfloat16_training_on_the_cpu_repeats_exactly_and_differs_from_float32(tiny_data, tmp_path):
    """cnn.precision bfloat16 (autocast) trains, records its precision, and two runs give the same
    weights bit for bit; float32 gives other weights."""
    tmp, stores = tiny_data
    weights = {}
    for run, precision in (("a", "bfloat16"), ("b", "bfloat16"), ("c", "float32")):
        cfg = _cfg(epochs=1) | {"precision": precision}
        _train(tmp, "cnn3", cfg, tmp_path / run, device_name="cpu")
        saved = torch.load(tmp_path / run / "model.pt", weights_only=False)
        assert saved["precision"] == precision
        assert np.isfinite(pd.read_csv(tmp_path / run / "history.csv")["val_loss"]).all()
        weights[run] = saved["state_dict"]
    assert all(torch.equal(weights["a"][k], weights["b"][k]) for k in weights["a"])
    assert not all(torch.equal(weights["a"][k], weights["c"][k]) for k in weights["a"])

    features = {}
    for precision in ("bfloat16", "float32"):   # extraction in either arithmetic, recorded in the store
        out = tmp_path / f"features_{precision}.h5"
        extract_shard(tmp_path / "a" / "model.pt", image_store=stores[0], out_path=out, device_name="cpu",
                      precision=precision)
        with h5py.File(out) as fh:
            assert fh.attrs["precision"] == precision
        features[precision] = read_features(out)
        answers = features[precision][[c for c in features[precision].columns if c.startswith("cnn3_gz2_q01")]]
        np.testing.assert_allclose(answers.sum(axis=1), 1.0, atol=1e-5)   # the GZ2 head runs in float32
    assert not features["bfloat16"].equals(features["float32"])


def test_an_unknown_precision_is_refused(tiny_data, tmp_path):
    tmp, stores = tiny_data
    with pytest.raises(ValueError, match="cnn.precision"):
        _train(tmp, "cnn3", _cfg(epochs=1) | {"precision": "float16"}, tmp_path / "x", device_name="cpu")


@pytest.mark.parametrize("readers", [1, 3])
def test_the_store_stream_yields_every_store_in_order_and_stops_at_a_bad_one(tiny_data, tmp_path, readers):
    """Several reader threads, stores in flight ahead: the stores still come in the order given,
    and a store that cannot be read is raised, naming it, after those before it."""
    tmp, stores = tiny_data
    order = [stores[1], stores[0], stores[1], stores[0]]
    got = [(path, ids[0]) for path, ids, _ in StoreStream(order, SIZE, pin=False, ahead=2, readers=readers)]
    assert got == [(p, 1000 if p == stores[1] else 0) for p in order]
    bad = tmp_path / "shard-9.h5"
    bad.write_bytes(b"not a store")
    seen = []
    with pytest.raises(IntegrityError, match="shard-9.h5"):
        for path, _, _ in StoreStream([stores[0], stores[1], bad, stores[0]], SIZE, pin=False, readers=readers):
            seen.append(path)
    assert seen == [stores[0], stores[1]]


def test_a_damaged_checkpoint_is_ignored_and_training_starts_afresh(tiny_data, tmp_path, caplog):
    tmp, stores = tiny_data
    _train(tmp, "cnn3", _cfg(epochs=2), tmp_path / "a", checkpoint_interval_s=0)
    ckpt = tmp_path / "a" / "checkpoint" / "last.pt"   # after epoch 1: none follows the last epoch
    ckpt.write_bytes(ckpt.read_bytes()[:5000])
    with caplog.at_level("INFO"):
        _train(tmp, "cnn3", _cfg(epochs=2), tmp_path / "a", checkpoint_interval_s=0)
    assert "ignoring the checkpoint" in caplog.text and "last.pt" in caplog.text
    assert list(pd.read_csv(tmp_path / "a" / "history.csv")["epoch"]) == [1, 2]


@pytest.mark.gpu
def test_training_step_on_gpu(tiny_data, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    tmp, stores = tiny_data
    metrics = _train(tmp, "cnn3", _cfg(epochs=1), tmp_path / "gpu",
                          device_name="cuda")
    assert np.isfinite(metrics["rmse"])


def test_cnn_bench_measures_the_device_limit_extraction_process_and_training_on_the_cpu(tmp_path):
    """bench/cnn_bench.py at small sizes: one extraction process over several stores (start-up
    included), training at the preset's settings, and the projection of the preset's CNN stages."""
    import importlib.util

    from conftest import REPO, TINY

    spec = importlib.util.spec_from_file_location("cnn_bench", REPO / "bench" / "cnn_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = bench.main(["--device", "cpu", "--preset", str(TINY), "--models", "cnn3", "--shards", "3",
                         "--shard-galaxies", "10", "--galaxies", "1000", "--epochs", "1", "--forward-batch", "8",
                         "--seconds", "0", "--threads", "1", "--json", str(tmp_path / "bench.json")])
    r = report["models"]["cnn3"]
    assert r["size"] == 48 and r["batch"] == 32 and r["epochs"] == 1     # the tiny preset's cnn3
    assert r["extraction"]["galaxies"] == 30                             # 3 stores, one process
    assert 0 < r["extraction"]["loop_s"] < r["extraction"]["wall_s"]
    assert {"import torch", "import timm", "build cnn3"} <= set(report["startup_s"])
    assert min(r["bare_forward_img_s"], r["train_step_img_s"], r["training_img_s"], r["stream_img_s_1_readers"],
               r["stream_img_s_2_readers"]) > 0
    p = r["projected"]
    assert p["training_s"] == pytest.approx(1 * 1000 * 0.9 * 0.9 / r["training_img_s"])
    assert report["projected_total_s"] == pytest.approx(p["training_s"] + p["extraction_s"])
    assert json.loads((tmp_path / "bench.json").read_text())["models"]["cnn3"]["size"] == 48


@pytest.mark.gpu
def test_a_resumed_training_step_on_gpu_never_waits_for_the_device(tiny_data):
    """After a resume, NAdam's scalars are back on the host, and batches, augmentation, forward,
    backward and step run without one synchronisation (torch's sync debug mode raises on any)."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    tmp, _ = tiny_data
    device = torch.device("cuda")
    table = training_table(pd.read_csv(tmp / "sample.csv"), pd.read_csv(tmp / "stores.csv"), "gz2", "train")
    split = MemorySplit(table, SIZE, "gz2", device)
    model = model_from_config(_cfg()["models"]["cnn3"], pretrained=False).to(device)
    first = torch.optim.NAdam(model.parameters(), lr=1e-3)

    def steps(optimizer, n):
        generator = torch.Generator().manual_seed(0)
        for _, (images, truth, weight) in zip(range(n), split.batches(8, generator)):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                pred = model(augment(images, generator, (0.9, 1.1)).contiguous(memory_format=torch.channels_last))
            loss = loss_fn("gz2", pred.float(), truth, weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    steps(first, 1)
    resumed = torch.optim.NAdam(model.parameters(), lr=1e-3)
    load_optimizer_state(resumed, first.state_dict())
    assert all(state["mu_product"].device.type == "cpu" for state in resumed.state.values())
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        steps(resumed, 3)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.gpu
def test_extraction_and_in_memory_training_on_gpu(tiny_data, tmp_path):
    """On CUDA: the split lives on the device, and the streamed extraction gives the CPU's
    features to bf16 precision."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    tmp, stores = tiny_data
    table = training_table(pd.read_csv(tmp / "sample.csv"), pd.read_csv(tmp / "stores.csv"), "gz2", "train")
    split = MemorySplit(table, SIZE, "gz2", torch.device("cuda"))
    assert split.placement == "device" and split.images.is_cuda
    images, _, _ = next(split.batches(8, torch.Generator().manual_seed(0)))
    assert images.is_cuda and images.shape == (8, 1, SIZE, SIZE)
    _train(tmp, "cnn3", _cfg(epochs=1), tmp_path / "m", device_name="cuda")
    outs = {d: [tmp_path / f"{d}-{k}.h5" for k in range(2)] for d in ("cpu", "cuda")}
    for device, paths in outs.items():
        extract_stores(tmp_path / "m" / "model.pt", image_stores=stores, out_paths=paths, device_name=device)
    for a, b in zip(outs["cpu"], outs["cuda"]):
        np.testing.assert_allclose(read_features(b).to_numpy(), read_features(a).to_numpy(), atol=0.05, rtol=0.05)
