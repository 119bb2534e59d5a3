"""Reading files: safe decoding, clear errors naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.loader import decode, expand, load_file
from rag.errors import IngestError


def test_utf8_bom_and_cp1252_fallback(tmp_path: Path) -> None:
    assert decode("café".encode("utf-8-sig"), "x") == "café"
    assert decode("“quoted” café".encode("cp1252"), "x") == "“quoted” café"
    assert decode("über".encode("utf-16"), "x") == "über"


def test_binary_file_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "photo.txt"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(IngestError, match="photo.txt.*binary"):
        load_file(f)


def test_undecodable_text_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "bad.txt"
    f.write_bytes(b"abc \x81\x8d\x8f\x90\x9d def")  # invalid in UTF-8 and in cp1252
    with pytest.raises(IngestError, match="bad.txt.*cannot be decoded"):
        load_file(f)


def test_unsupported_type_and_missing_path(tmp_path: Path) -> None:
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(IngestError, match="unsupported file type '.pdf'"):
        expand([pdf])
    with pytest.raises(IngestError, match="no such file or folder"):
        expand([tmp_path / "missing"])
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(IngestError, match="no .txt, .md or .html files"):
        expand([empty])


def test_empty_file(tmp_path: Path) -> None:
    f = tmp_path / "blank.md"
    f.write_text("  \n\n")
    with pytest.raises(IngestError, match="blank.md: the file is empty"):
        load_file(f)
