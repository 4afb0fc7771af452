"""Content hashes: a flipped byte or a truncation in an image store, a feature store, a model.pt
or a bundle member stops the reader naming the file; bundles never run a pickle's code; files
are written with the permissions the umask allows."""

import io
import json
import os
import pickle
import stat
import zipfile

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from mlpipe.io.atomic import atomic_path, write_csv
from mlpipe.io.integrity import IntegrityError, load_torch, open_store, save_torch
from mlpipe.io.store import (
    create_store,
    read_features,
    store_index,
    write_matrix,
    write_table,
)


def _image_store(path, n=6, size=16):
    rng = np.random.default_rng(1)
    with create_store(path, {"config": {"seed": 1}, "sizes": [size]}) as fh:
        fh.create_dataset("objid", data=np.arange(1237645017035724800, 1237645017035724800 + n, dtype=np.int64))
        fh.create_group("images").create_dataset(str(size), data=rng.random((n, size, size), np.float32),
                                                 chunks=(1, size, size))
        write_table(fh, "features", pd.DataFrame({"lum_sum": rng.random(n), "pixel_scale_arcsec": 0.396}))
        write_table(fh, "rejects", pd.DataFrame({"objid": [7], "reason": ["image file missing: 7.fits"]}))
    return path


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _data_offset(path, name, row=0):
    with h5py.File(path, "r") as fh:
        ds = fh[name]
        return ds.id.get_chunk_info(row).byte_offset if ds.chunks else ds.id.get_offset()


def test_store_round_trip_is_verified(tmp_path):
    path = _image_store(tmp_path / "shard-0.h5")
    with open_store(path) as fh:
        assert fh["images/16"].shape == (6, 16, 16)
    assert len(store_index([path])) == 6


@pytest.mark.parametrize("dataset, row", [("images/16", 3), ("objid", 0), ("features/lum_sum", 0)])
def test_a_flipped_byte_in_a_store_stops_its_reader_naming_the_file(tmp_path, dataset, row):
    path = _image_store(tmp_path / "shard-0.h5")
    _flip(path, _data_offset(path, dataset, row) + 5)
    with pytest.raises(IntegrityError, match=f"shard-0.h5: corrupt store: dataset '{dataset}'"), open_store(path):
        pass


def test_a_changed_attribute_is_caught(tmp_path):
    path = _image_store(tmp_path / "shard-0.h5")
    with h5py.File(path, "a") as fh:
        fh.attrs["sizes"] = json.dumps([17])
    with pytest.raises(IntegrityError, match="attributes differ"), open_store(path, ["objid"]):
        pass


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_a_truncated_store_is_named(tmp_path, keep):
    path = _image_store(tmp_path / "shard-0.h5")
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(IntegrityError, match="shard-0.h5"):
        store_index([path])


def test_a_reader_checks_only_what_it_reads_but_all_of_it(tmp_path):
    path = _image_store(tmp_path / "shard-0.h5")
    _flip(path, _data_offset(path, "images/16", 2) + 1)
    with open_store(path, ["objid", "features"]) as fh:   # the images are not read: no cost, no error
        assert len(fh["objid"]) == 6
    with pytest.raises(IntegrityError, match="images/16"), open_store(path, ["objid", "images/16"]):
        pass


@pytest.mark.parametrize("dataset, row", [("images/16", 4), ("objid", 0)])
def test_the_extraction_stream_checks_what_it_reads_in_one_pass(tmp_path, dataset, row):
    """Extraction reads each store once and checks the values read against the digests."""
    from mlpipe.cnn.data import read_store_images

    path = _image_store(tmp_path / "shard-0.h5")
    ids, images = read_store_images(path, 16, pin=False)
    with h5py.File(path, "r") as fh:
        np.testing.assert_array_equal(images[:, 0].numpy(), fh["images/16"][()])
        np.testing.assert_array_equal(ids, fh["objid"][()])
    _flip(path, _data_offset(path, dataset, row) + 3)
    with pytest.raises(IntegrityError, match=f"shard-0.h5: corrupt store: dataset '{dataset}'"):
        read_store_images(path, 16, pin=False)


def test_the_extraction_stream_names_a_file_hdf5_cannot_read(tmp_path):
    from mlpipe.cnn.data import read_store_images

    path = _image_store(tmp_path / "shard-0.h5")
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(IntegrityError, match="shard-0.h5: not a readable HDF5 store"):
        read_store_images(path, 16, pin=False)


def test_feature_store_reader_checks_the_hash(tmp_path):
    path = tmp_path / "features.h5"
    with create_store(path, {"model": "cnn1"}) as fh:
        fh.create_dataset("objid", data=np.arange(4))
        write_matrix(fh, pd.DataFrame(np.ones((4, 3), np.float32), columns=["a", "b", "c"]))
    assert read_features(path).shape == (4, 3)
    _flip(path, _data_offset(path, "features") + 2)
    with pytest.raises(IntegrityError, match="features.h5: corrupt store: dataset 'features'"):
        read_features(path)


def _model(path):
    state = {"w": torch.arange(1000, dtype=torch.float32), "b": torch.zeros(3)}
    save_torch({"name": "cnn1", "model_cfg": {"target": "gz2"}, "state_dict": state, "metrics": {"rmse": 0.1}}, path)
    return path


def test_model_file_round_trip_and_a_flipped_weight(tmp_path):
    path = _model(tmp_path / "model.pt")
    assert torch.equal(load_torch(path)["state_dict"]["w"], torch.arange(1000, dtype=torch.float32))
    data = bytearray(path.read_bytes())
    offset = data.find(np.arange(1000, dtype=np.float32)[500:502].tobytes())
    assert offset > 0
    data[offset + 1] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model.pt: corrupt model file"):
        load_torch(path)


def test_a_truncated_model_file_is_named(tmp_path):
    path = _model(tmp_path / "model.pt")
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(IntegrityError, match="model.pt: not a loadable model file"):
        load_torch(path)


class _RunsCode:
    """A pickle that would create a file when loaded with weights_only=False."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_model_file_holding_code_is_refused_unrun(tmp_path):
    marker = tmp_path / "code_ran"
    path = tmp_path / "model.pt"
    torch.save({"name": "cnn1", "state_dict": {}, "payload": _RunsCode(str(marker))}, path)
    with pytest.raises(IntegrityError, match="refused: loading them could run code"):
        load_torch(path)
    assert not marker.exists()


def test_full_disk_while_saving_a_model_names_the_file(tmp_path, monkeypatch):
    import builtins

    real_open = builtins.open

    def full_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if "w" in mode and str(file).endswith(".pt"):
            def write(_data):
                raise OSError(28, "No space left on device")
            handle.write = write
        return handle

    monkeypatch.setattr(builtins, "open", full_open)
    with pytest.raises(OSError) as err:
        _model(tmp_path / "model.pt")
    assert err.value.strerror == "No space left on device" and err.value.filename == str(tmp_path / "model.pt")
    monkeypatch.undo()
    assert not (tmp_path / "model.pt").exists() and not list(tmp_path.glob(".model.pt.*"))


def test_written_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_csv(pd.DataFrame({"a": [1]}), tmp_path / "a.csv")
        with atomic_path(tmp_path / "b.txt") as tmp:
            tmp.write_text("x")
        _image_store(tmp_path / "c.h5")
        os.umask(0o077)
        write_csv(pd.DataFrame({"a": [1]}), tmp_path / "private.csv")
    finally:
        os.umask(old)
    for name in ("a.csv", "b.txt", "c.h5"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE((tmp_path / "private.csv").stat().st_mode) == 0o600


# --- bundles -------------------------------------------------------------------------------

def _bundle(tmp_path):
    from test_predict import _config, _saved_predictor, _weights

    from mlpipe.predict.bundle import export_bundle, training_images

    _saved_predictor(tmp_path / "gbm")
    weights = {name: _weights(tmp_path / f"{name}.pt", name) for name in ("cnn1", "cnn2")}
    images = training_images([_image_store(tmp_path / "shard-0.h5")])
    export_bundle(tmp_path / "gbm", weights, "cnn1", _config(), tmp_path / "b.zip", images)
    return tmp_path / "b.zip"


def _rewrite(bundle, member, data, fix_digest=False):
    from mlpipe.io.integrity import bytes_digest

    with zipfile.ZipFile(bundle) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members[member] = data
    if fix_digest:
        manifest = json.loads(members["manifest.json"])
        manifest["members_sha256"][member] = bytes_digest(data)
        members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(bundle, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)


def test_bundle_records_training_images_and_member_digests(tmp_path):
    from mlpipe.predict.bundle import load_bundle

    bundle = load_bundle(_bundle(tmp_path))
    assert bundle.manifest["training_images"] == {"unit": "nanomaggies", "pixel_scale_arcsec": 0.396,
                                                  "pixel_scale_range_arcsec": [0.396, 0.396]}
    assert set(bundle.manifest["members_sha256"]) == {"gbm/model.txt", "gbm/fit.json", "gbm/interval.json",
                                                      "cnn/cnn1.pt"}


@pytest.mark.parametrize("member", ["cnn/cnn1.pt", "gbm/model.txt"])
def test_a_changed_bundle_member_is_refused_naming_it(tmp_path, member):
    from mlpipe.predict.bundle import load_bundle

    path = _bundle(tmp_path)
    with zipfile.ZipFile(path) as zf:
        data = bytearray(zf.read(member))
    data[len(data) // 2] ^= 0x01
    _rewrite(path, member, bytes(data))
    with pytest.raises(IntegrityError, match=f"b.zip: member {member} differs"):
        load_bundle(path)


def test_a_bundle_whose_weights_would_run_code_is_refused_unrun(tmp_path):
    """Even with a manifest whose digests match the crafted member, loading runs nothing."""
    from mlpipe.predict.bundle import load_bundle

    path = _bundle(tmp_path)
    marker = tmp_path / "code_ran"
    buffer = io.BytesIO()
    torch.save({"name": "cnn1", "state_dict": {}, "x": _RunsCode(str(marker))}, buffer)
    _rewrite(path, "cnn/cnn1.pt", buffer.getvalue(), fix_digest=True)
    with pytest.raises(IntegrityError, match="member cnn/cnn1.pt: not a loadable CNN model file.*could run code"):
        load_bundle(path)
    assert not marker.exists()
    raw = pickle.dumps(_RunsCode(str(marker)))   # a bare pickle, not even a torch file
    _rewrite(path, "cnn/cnn1.pt", raw, fix_digest=True)
    with pytest.raises(IntegrityError, match="member cnn/cnn1.pt"):
        load_bundle(path)
    assert not marker.exists()


def test_pixel_scale_mismatch_is_found_per_galaxy():
    from mlpipe.predict.run import pixel_scale_mismatches

    training = {"pixel_scale_arcsec": 0.396, "pixel_scale_range_arcsec": [0.396, 0.396]}
    images = pd.DataFrame({"objid": [1, 2, 3], "pixel_scale_arcsec": [0.396, 0.262, 0.4]})
    found = pixel_scale_mismatches(images, training)
    assert found["objid"].tolist() == [2]
    assert "0.262 arcsec/px differs from the training images' 0.396 arcsec/px" in found["reason"].iloc[0]
    assert pixel_scale_mismatches(images, {}).empty   # a bundle that did not record it: nothing to compare
