"""Atomic outputs: an interrupted write never leaves a partial file under the final name."""

from __future__ import annotations

import pandas as pd
import pytest

from mgar_bayes.atomic import atomic_path, atomic_write_text, write_frame


def test_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half of the ne")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_temporary_keeps_the_suffix_so_formats_are_inferred(tmp_path):
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    for name in ("t.csv", "t.csv.gz", "t.parquet"):
        write_frame(df, tmp_path / name)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), df)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv.gz", compression="gzip"), df)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), df)


def test_failed_writer_leaves_no_file(tmp_path, monkeypatch):
    def broken(self, path, *a, **k):
        with open(path, "wb") as fh:
            fh.write(b"PAR1 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError, match="No space"):
        write_frame(pd.DataFrame({"a": [1]}), tmp_path / "stars.parquet")
    assert list(tmp_path.iterdir()) == []


def test_text_is_replaced_whole(tmp_path):
    p = atomic_write_text(tmp_path / "sub" / "x.txt", "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two"


def test_outputs_get_the_usual_file_mode(tmp_path):
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    p = atomic_write_text(tmp_path / "summary.json", "{}")
    assert p.stat().st_mode & 0o777 == 0o666 & ~mask
