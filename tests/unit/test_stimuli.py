"""Tests of dnnmap.stimuli: reading, checking and writing the stimulus table."""

from __future__ import annotations

import hashlib
import logging
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from PIL import Image

from dnnmap.errors import InputError
from dnnmap.media.video import write_video
from dnnmap.stimuli import (
    IMAGES_ATTR,
    check_stimuli,
    read_stimuli,
    read_table,
    stimulus_files_digest,
    write_stimuli,
)

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def make_png(path: Path, color: tuple[int, int, int] = (200, 30, 30)) -> Path:
    """Write a small RGB PNG and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), color).save(path)
    return path


def write_text(path: Path, lines: list[str]) -> Path:
    """Write lines (joined by newlines) to a file and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def load(path: Path, decode: bool = True) -> pd.DataFrame:
    """Read and check a table the way the workflow does."""
    return check_stimuli(read_table(path), path, decode=decode)


def test_valid_table_round_trip(tmp_path):
    make_png(tmp_path / "img" / "a.png")
    make_png(tmp_path / "img" / "b.jpg", (0, 0, 255))
    table = write_text(
        tmp_path / "stim.tsv",
        ["stim_id\tpath\tcategory\tsplit", "b\timg/b.jpg\tdog\ttest", "a\timg/a.png\tcat\t"],
    )
    df = load(table)
    assert list(df.columns) == ["stim_id", "path", "modality", "category", "split"]
    assert df["stim_id"].tolist() == ["b", "a"]  # table order kept
    assert df["modality"].tolist() == ["image", "image"]
    assert df["split"].tolist() == ["test", ""]
    out = tmp_path / "results" / "stimuli.tsv"
    write_stimuli(df, out)
    back = read_stimuli(out)
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert sorted(p.name for p in out.parent.iterdir()) == ["stimuli.tsv"]


def test_relative_paths_resolve_from_table_folder(tmp_path, monkeypatch):
    image = make_png(tmp_path / "img" / "a.png")
    other = make_png(tmp_path / "elsewhere" / "b.png")
    write_text(
        tmp_path / "tables" / "stim.tsv",
        ["stim_id\tpath", "a\t../img/a.png", f"b\t{other}"],
    )
    monkeypatch.chdir(tmp_path / "elsewhere")
    df = load(Path("..") / "tables" / "stim.tsv")
    assert df["path"].tolist() == [str(image), str(other)]
    assert all(Path(p).is_absolute() for p in df["path"])


def test_csv_extension_and_modalities(tmp_path):
    make_png(tmp_path / "a.png")
    # Real (tiny) sound and video files: their headers are read at every check.
    soundfile.write(tmp_path / "s.wav", np.zeros(160), 16000)
    write_video(tmp_path / "clip.mp4", np.zeros((2, 16, 16, 3), np.uint8), 10)
    (tmp_path / "clip.mp4").rename(tmp_path / "clip.bin")
    Image.new("P", (4, 4)).save(tmp_path / "g.gif")
    inferred = write_text(tmp_path / "stim.csv", ["stim_id,path", "a,a.png", "s,s.wav", "g,g.gif"])
    assert load(inferred)["modality"].tolist() == ["image", "audio", "image"]
    given = write_text(
        tmp_path / "given.csv", ["stim_id,path,modality", "a,a.png,IMAGE", "c,clip.bin,Video"]
    )
    assert load(given)["modality"].tolist() == ["image", "video"]


def test_dnnbrain_stim_csv(tmp_path):
    make_png(tmp_path / "pics" / "cat1.png")
    make_png(tmp_path / "pics" / "sub" / "dog1.jpg")
    table = write_text(
        tmp_path / "demo.stim.csv",
        [
            "type=image",
            "path=pics",
            "title=two pictures",
            "data=stimID,label,condition",
            "cat1.png,0,cat",
            "",
            "sub/dog1.jpg,1,dog",
        ],
    )
    raw = read_table(table)
    assert raw.attrs["dnnbrain"]["title"] == "two pictures"
    df = check_stimuli(raw, table)
    assert df["stim_id"].tolist() == ["cat1", "dog1"]
    assert df["path"].tolist() == [
        str(tmp_path / "pics" / "cat1.png"),
        str(tmp_path / "pics" / "sub" / "dog1.jpg"),
    ]
    assert df["modality"].tolist() == ["image", "image"]
    assert df["condition"].tolist() == ["cat", "dog"]
    assert df["label"].tolist() == ["0", "1"]


def test_dnnbrain_error_names_file_line(tmp_path):
    make_png(tmp_path / "pics" / "cat1.png")
    table = write_text(
        tmp_path / "demo.stim.csv",
        ["type=image", "path=pics", "data=stimID,label", "cat1.png,0", "", "gone.png,1"],
    )
    with pytest.raises(InputError, match=r"demo\.stim\.csv row 6: 'pics/gone\.png' not found"):
        load(table)


def test_dnnbrain_video_rejected(tmp_path):
    table = write_text(tmp_path / "v.stim.csv", ["type=video", "path=m.mp4", "data=stimID", "1"])
    with pytest.raises(InputError, match=r"v\.stim\.csv: type='video'; expected type=image"):
        read_table(table)


# (table lines, error row, text the message must hold); images a.png and bad.png exist.
ERRORS = {
    "missing column": (["stim_id\tfile", "a\ta.png"], 1, "missing column path (found: stim_id"),
    "duplicate id": (
        ["stim_id\tpath", "a\ta.png", "b\ta.png", "a\ta.png"],
        4,
        "stim_id 'a' repeats row 2",
    ),
    "empty id": (["stim_id\tpath", "\ta.png"], 2, "stim_id is empty"),
    "slash in id": (["stim_id\tpath", "x/y\ta.png"], 2, "'x/y' is not safe"),
    "space at end": (["stim_id\tpath", "x \ta.png"], 2, "'x ' is not safe"),
    "missing file": (["stim_id\tpath", "a\ta.png", "b\tnope.png"], 3, "'nope.png' not found"),
    "blank line counts": (["stim_id\tpath", "a\ta.png", "", "b\tnope.png"], 4, "not found"),
    "undecodable": (["stim_id\tpath", "a\ta.png", "b\tbad.png"], 3, "bad.png does not decode"),
    "bad modality": (["stim_id\tpath\tmodality", "a\ta.png\tsmell"], 2, "modality 'smell'"),
    "empty modality": (
        ["stim_id\tpath\tmodality", "a\ta.png\timage", "b\ta.png\t "],
        3,
        "modality is empty; expected one of image, video, audio in every row",
    ),
    "too many fields": (["stim_id\tpath", "a\ta.png", "b\ta.png\tx"], 3, "3 fields"),
    "unknown extension": (["stim_id\tpath", "a\tbad.png", "n\tnotes.txt"], 3, "cannot infer"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_name_file_and_row(tmp_path, case):
    lines, row, text = ERRORS[case]
    make_png(tmp_path / "a.png")
    (tmp_path / "bad.png").write_text("this is not a PNG\n")
    (tmp_path / "notes.txt").write_text("text\n")
    table = write_text(tmp_path / "my_table.tsv", lines)
    # bad.png must only fail where decoding is what is tested
    decode = case == "undecodable"
    with pytest.raises(InputError) as err:
        load(table, decode=decode)
    message = str(err.value)
    assert f"my_table.tsv row {row}" in message
    assert text in message
    assert "\n" not in message


def test_decode_false_skips_image_decoding(tmp_path):
    (tmp_path / "bad.png").write_text("not an image")
    table = write_text(tmp_path / "t.tsv", ["stim_id\tpath", "b\tbad.png"])
    assert load(table, decode=False)["stim_id"].tolist() == ["b"]


def test_nothing_written_when_check_fails(tmp_path):
    make_png(tmp_path / "a.png")
    table = write_text(tmp_path / "t.tsv", ["stim_id\tpath", "a\ta.png", "a\ta.png"])
    out = tmp_path / "results" / "stimuli.tsv"
    with pytest.raises(InputError, match="row 3"):
        write_stimuli(load(table), out)
    assert not out.exists()
    assert not (out.parent.exists() and any(out.parent.iterdir()))


def test_empty_and_header_only_tables(tmp_path):
    empty = write_text(tmp_path / "empty.tsv", [])
    with pytest.raises(InputError, match=r"empty\.tsv"):
        read_table(empty)
    header = write_text(tmp_path / "header.tsv", ["stim_id\tpath"])
    with pytest.raises(InputError, match=r"header\.tsv: no stimulus rows"):
        load(header)


def test_read_stimuli_needs_modality(tmp_path):
    path = write_text(tmp_path / "stimuli.tsv", ["stim_id\tpath", "a\t/x.png"])
    with pytest.raises(InputError, match="missing column modality"):
        read_stimuli(path)


def test_shipped_demo_stimuli_pass():
    table = RESOURCES / "stimuli.tsv"
    df = load(table)
    assert 100 <= len(df) <= 200
    assert df["stim_id"].is_unique
    assert df["stim_id"].tolist() == sorted(df["stim_id"])
    assert df["category"].nunique() >= 5
    assert set(df["modality"]) == {"image"}
    assert all(p.startswith(str(RESOURCES / "stimuli")) for p in df["path"])


def test_decoding_records_mode_size_and_conversions(tmp_path):
    make_png(tmp_path / "a.png")
    Image.fromarray(np.full((5, 7), 4000, np.uint16)).save(tmp_path / "deep.png")
    Image.new("RGBA", (3, 3), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    table = write_text(
        tmp_path / "t.tsv", ["stim_id\tpath", "a\ta.png", "d\tdeep.png", "c\tclear.png"]
    )
    df = load(table)
    infos = df.attrs[IMAGES_ATTR]
    assert [(i.mode, i.size, i.conversions) for i in infos.values()] == [
        ("RGB", (8, 6), ()),
        ("I;16", (7, 5), ("high_bit_depth",)),
        ("RGBA", (3, 3), ("alpha",)),
    ]
    assert "dnnmap_images" not in load(table, decode=False).attrs


def test_bad_background_named_once():
    with pytest.raises(InputError, match=r"^stimuli\.background: \[1, 2\]"):
        check_stimuli(pd.DataFrame({"stim_id": ["a"], "path": ["a.png"]}), "t.tsv", True, [1, 2])


def test_check_stimuli_script_logs_modes_and_warns_once_per_kind(tmp_path, caplog):
    for name in ("a", "b"):
        Image.new("RGBA", (4, 4), (9, 9, 9, 100)).save(tmp_path / f"{name}.png")
    Image.fromarray(np.full((9, 2), 300, np.uint16)).save(tmp_path / "c.png")
    make_png(tmp_path / "d.png")
    table = write_text(tmp_path / "t.tsv", ["stim_id\tpath", *(f"{n}\t{n}.png" for n in "abcd")])
    main = runpy.run_path(str(SCRIPTS / "check_stimuli.py"))["main"]
    with caplog.at_level(logging.INFO, logger="dnnmap"):
        main(str(table), str(tmp_path / "out" / "stimuli.tsv"), [0, 0, 0])
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    warn = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "image mode I;16: 1 image(s), 2-2 x 9-9 px (width x height)" in info
    assert "image mode RGB: 1 image(s), 8-8 x 6-6 px (width x height)" in info
    assert "image mode RGBA: 2 image(s), 4-4 x 4-4 px (width x height)" in info
    assert len(warn) == 2
    assert "2 image(s): transparent pixels composited" in warn[1]
    assert "row 2 (a.png), row 3 (b.png)" in warn[1]
    assert "1 image(s): integer pixels above 8 bits" in warn[0] and "row 4 (c.png)" in warn[0]


def test_stimulus_files_digest(tmp_path):
    a = tmp_path / "a.bin"
    b = tmp_path / "b.bin"
    a.write_bytes(b"ab")
    b.write_bytes(b"c")
    ref = hashlib.sha256()
    for data in (b"ab", b"c"):
        ref.update(len(data).to_bytes(8, "little") + data)
    assert stimulus_files_digest([a, b]) == f"sha256:{ref.hexdigest()}"
    assert stimulus_files_digest([b, a]) != stimulus_files_digest([a, b])  # order counts
    a.write_bytes(b"a")
    b.write_bytes(b"bc")  # same bytes in all, split differently
    assert stimulus_files_digest([a, b]) != f"sha256:{ref.hexdigest()}"


def test_csv_read_as_tsv_names_the_separator(tmp_path):
    """A comma-separated file named .tsv reported missing columns, not the separator."""
    path = tmp_path / "stimuli.tsv"
    path.write_text("stim_id,path,category\na,a.png,x\nb,b.png,y\n")
    with pytest.raises(InputError) as err:
        check_stimuli(read_table(path), path, decode=False)
    assert str(err.value) == (
        f"{path} row 1 (header): columns are separated by commas but a file named stimuli.tsv "
        "is read as TSV (tab-separated); expected TSV (tab-separated) (rename it to .csv)"
    )
    csv = tmp_path / "stimuli.csv"
    csv.write_text("stim_id\tpath\na\ta.png\n")
    with pytest.raises(InputError, match=r"separated by tabs but a file named stimuli.csv is read"):
        check_stimuli(read_table(csv), csv, decode=False)
