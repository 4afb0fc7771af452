"""Image download for rules/fetch.smk, against a local HTTP server: cached files are never
fetched again, a partial download continues with an HTTP Range request, failures are retried
with back-off and then recorded."""

import http.server
import threading

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from mlpipe.fetch.images import fetch_shard, image_url
from mlpipe.io.fits_image import read_image, tan_wcs


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files from the server's folder, honouring 'Range: bytes=N-'; records each request."""

    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("Range")))
        path = self.translate_path(self.path.split("?")[0])
        try:
            data = open(path, "rb").read()
        except OSError:
            self.send_error(404)
            return
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "remote"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: RangeHandler(*a, directory=str(root)))
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", httpd.requests
    httpd.shutdown()


def _fits(path, seed):
    data = np.random.default_rng(seed).normal(size=(40, 40)).astype(np.float32)
    fits.PrimaryHDU(data, header=tan_wcs(150.0, 2.0, (20.5, 20.5), 0.396).to_header()).writeto(path)


def test_fetch_downloads_caches_resumes_and_records_failures(tmp_path, server):
    root, url, requests = server
    big = 1237645017035724801                                      # 19-digit SDSS ids: not floats
    shard = pd.DataFrame({"objid": [big + 1, big + 2, big + 3, big + 4], "ra": 150.0, "dec": 2.0, "d25_arcmin": 0.5})
    shard.to_csv(tmp_path / "shard.csv", index=False)
    for k in (1, 2, 3):
        _fits(root / f"{big + k}.fits", k)
    images = tmp_path / "images"
    images.mkdir()
    _fits(images / f"{big + 1}.fits", 1)                           # already there: cached
    whole = (root / f"{big + 2}.fits").read_bytes()
    (images / f"{big + 2}.fits.part").write_bytes(whole[:5000])    # an interrupted download
    sleeps = []
    cfg = {"url_template": url + "/{objid}.fits?ra={ra}&size={size_px}", "retries": 2, "timeout_s": 5}
    report = fetch_shard(tmp_path / "shard.csv", images, cfg, tmp_path / "report.csv", sleep=sleeps.append)

    status = dict(zip(report["objid"] - big, report["status"]))
    assert status == {1: "cached", 2: "downloaded", 3: "downloaded", 4: "failed"}
    assert (images / f"{big + 2}.fits").read_bytes() == whole and not (images / f"{big + 2}.fits.part").exists()
    assert (f"/{big + 2}.fits?ra=150.000000&size=106", "bytes=5000-") in requests   # resumed, not restarted
    assert not any(path.startswith(f"/{big + 1}.fits") for path, _ in requests)     # never re-downloaded
    assert sleeps == [1.0, 2.0]                                            # back-off between the 3 attempts at 4
    assert "404" in report.set_index("objid").loc[big + 4, "detail"]
    assert read_image(images / f"{big + 3}.fits").data.shape == (40, 40)
    assert not (images / f"{big + 4}.fits").exists() and pd.read_csv(tmp_path / "report.csv").shape == (4, 3)

    requests.clear()
    again = fetch_shard(tmp_path / "shard.csv", images, cfg, tmp_path / "report.csv", sleep=sleeps.append)
    assert list(again["status"]) == ["cached", "cached", "cached", "failed"]
    assert all(path.startswith(f"/{big + 4}.fits") for path, _ in requests)


def test_a_download_that_is_not_a_fits_image_is_discarded(tmp_path, server):
    root, url, _ = server
    (root / "5.fits").write_text("<html>rate limited</html>")
    pd.DataFrame({"objid": [5], "ra": 1.0, "dec": 1.0, "d25_arcmin": 0.5}).to_csv(tmp_path / "s.csv", index=False)
    cfg = {"url_template": url + "/{objid}.fits", "retries": 0, "timeout_s": 5}
    report = fetch_shard(tmp_path / "s.csv", tmp_path / "images", cfg, tmp_path / "r.csv", sleep=lambda s: None)
    assert report["status"].tolist() == ["failed"] and "not a FITS image" in report["detail"][0]
    assert list((tmp_path / "images").iterdir()) == []


def test_image_url_fills_position_and_size():
    gal = pd.Series({"ra": 10.5, "dec": -1.25, "d25_arcmin": 1.0})
    assert image_url("x?id={objid}&ra={ra}&dec={dec}&s={size_px}", gal, 12) == "x?id=12&ra=10.500000&dec=-1.250000&s=212"


def test_a_users_own_compressed_cut_out_is_not_downloaded_again(tmp_path, server):
    import gzip

    root, url, requests = server
    pd.DataFrame({"objid": [7], "ra": 150.0, "dec": 2.0, "d25_arcmin": 0.5}).to_csv(tmp_path / "shard.csv", index=False)
    _fits(root / "7.fits", 1)
    images = tmp_path / "images"
    images.mkdir()
    (images / "7.fits.gz").write_bytes(gzip.compress((root / "7.fits").read_bytes()))
    cfg = {"url_template": url + "/{objid}.fits", "retries": 0, "timeout_s": 5}
    report = fetch_shard(tmp_path / "shard.csv", images, cfg, tmp_path / "report.csv")
    assert list(report["status"]) == ["cached"] and not requests and not (images / "7.fits").exists()
