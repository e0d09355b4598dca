"""``csslab data download``: fetch, verify, cache; served by a local HTTP server on loopback."""

import functools
import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest

from csslab.cli.main import main
from csslab.data import download as dl
from csslab.data.digits import load_digits


def idx_bytes(array) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return gzip.compress(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def served(tmp_path):
    """Small IDX .gz files under the standard names, served on 127.0.0.1; yields (url, checksums, requests)."""
    root = tmp_path / "site"
    root.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 50), ("t10k", 20)):
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(idx_bytes(rng.integers(0, 255, (n, 28, 28))))
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(idx_bytes(np.arange(n) % 10))
    checksums = {f: hashlib.md5((root / f).read_bytes()).hexdigest() for f in dl.DATASETS["mnist"]["md5"]}
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", checksums, requests, root
    server.shutdown()
    server.server_close()


def test_download_verifies_and_resumes_from_cache(served, tmp_path):
    url, checksums, requests, _ = served
    folder = dl.download("mnist", tmp_path / "cache", mirror=url, checksums=checksums, log=None)
    assert sorted(p.name for p in folder.iterdir()) == sorted(checksums)
    assert len(requests) == 4 and dl.status("mnist", folder, checksums) == dict.fromkeys(checksums, "ok")
    digits = load_digits(f"mnist:{folder}")
    assert len(digits.train_labels) + len(digits.pretrain_labels) == 50 and len(digits.test_labels) == 20
    # a second download finds every file in the cache: no request at all
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()  # ... except the one that went missing
    dl.download("mnist", folder, mirror=url, checksums=checksums, log=None)
    assert requests[4:] == ["/t10k-labels-idx1-ubyte.gz"]


def test_checksum_failure_is_clear_and_leaves_no_file(served, tmp_path):
    url, checksums, requests, _ = served
    wrong = dict(checksums, **{"train-labels-idx1-ubyte.gz": "0" * 32})
    folder = tmp_path / "cache"
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.gz: checksum mismatch .* expected 0{32}"):
        dl.download("mnist", folder, mirror=url, checksums=wrong, log=None)
    assert sorted(p.name for p in folder.iterdir()) == ["train-images-idx3-ubyte.gz"]  # verified before it; nothing partial


def test_missing_file_and_dead_mirror_are_one_line(served, tmp_path):
    url, checksums, _, root = served
    (root / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="could not download mnist file t10k-images-idx3-ubyte.gz: .*404"):
        dl.download("mnist", tmp_path / "a", mirror=url, checksums=checksums, log=None)
    assert set(p.name for p in (tmp_path / "a").iterdir()) <= set(checksums)  # nothing partial left
    with pytest.raises(ValueError, match="could not download"):
        dl.download("mnist", tmp_path / "b", mirror="http://127.0.0.1:9/", checksums=checksums, log=None, timeout=5)


def test_cli_download_list_path_and_data_from_cache(served, tmp_path, monkeypatch, capsys):
    url, checksums, _, _ = served
    monkeypatch.setenv("CSSLAB_CACHE", str(tmp_path / "home"))
    monkeypatch.setitem(dl.DATASETS["mnist"], "md5", checksums)
    assert main(["data", "path", "mnist"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "home" / "data" / "mnist")
    assert main(["data", "list"]) == 0
    assert "not downloaded" in capsys.readouterr().out
    assert main(["data", "download", "mnist", "--mirror", url]) == 0
    assert "use --data mnist" in capsys.readouterr().out
    assert main(["data", "list"]) == 0
    assert "downloaded, checksums ok" in capsys.readouterr().out
    digits = load_digits("mnist")  # --data mnist reads the cache
    assert len(digits.train_labels) + len(digits.pretrain_labels) == 50
    monkeypatch.setitem(dl.DATASETS["fashion"], "mirrors", ("http://127.0.0.1:9/",))
    assert main(["data", "download", "fashion", "--dir", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("csslab: error: could not download fashion file") and err.count("\n") == 0
    with pytest.raises(SystemExit) as exit_info:  # argparse: one line naming the valid choices
        main(["data", "download", "kmnist"])
    assert exit_info.value.code == 2 and "invalid choice: 'kmnist'" in capsys.readouterr().err


def test_published_checksums_are_md5_hex():
    for spec in dl.DATASETS.values():
        assert len(spec["md5"]) == 4 and all(len(v) == 32 and int(v, 16) >= 0 for v in spec["md5"].values())
