"""Tests of dnnmap.figures.save_figure: atomic write, format by suffix, figure closed."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from dnnmap.errors import InputError
from dnnmap.figures import save_figure


def _figure():
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    return fig


def test_save_figure_writes_png_at_dpi_and_closes(tmp_path):
    fig = _figure()
    out = save_figure(fig, tmp_path / "sub" / "f.png", dpi=40)
    assert out == tmp_path / "sub" / "f.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.imread(out).shape[:2] == (40, 80)  # (1 x 2 inches) x 40 dpi
    assert not plt.fignum_exists(fig.number)
    assert sorted(p.name for p in out.parent.iterdir()) == ["f.png"]  # no temporary left


@pytest.mark.parametrize(("suffix", "magic"), [(".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_save_figure_format_from_suffix(tmp_path, suffix, magic):
    out = save_figure(_figure(), tmp_path / f"f{suffix}")
    assert out.read_bytes().startswith(magic)


def test_save_figure_failure_leaves_nothing(tmp_path, monkeypatch):
    fig = _figure()
    (tmp_path / "old.png").write_bytes(b"previous")

    def broken(*args, **kwargs):
        with open(args[0], "wb") as f:
            f.write(b"half a fig")
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(fig, tmp_path / "old.png")
    assert (tmp_path / "old.png").read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.png"]
    assert not plt.fignum_exists(fig.number)


def test_save_figure_checks_its_arguments(tmp_path):
    fig = _figure()
    with pytest.raises(InputError, match=r"f\.jpg: figure file name ends in '\.jpg'; expected"):
        save_figure(fig, tmp_path / "f.jpg")
    with pytest.raises(InputError, match="dpi is 0; expected an integer >= 1"):
        save_figure(fig, tmp_path / "f.png", dpi=0)
    with pytest.raises(InputError, match="fig is a list; expected a matplotlib Figure"):
        save_figure([], tmp_path / "f.png")
    assert list(tmp_path.iterdir()) == []
    plt.close(fig)
