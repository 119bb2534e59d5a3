"""Uploads through the service the page (and the REST API) use: every good file indexed, each
bad one named with what to do, progress counted in chunks, one size limit. Real index, real
model."""

from __future__ import annotations

from pathlib import Path

from rag.documents import NAMES_FILE
from rag.settings import Settings
from ui.service import Service

MESSY = Path(__file__).resolve().parents[1] / "data" / "messy"
STORY = (b"Harbour bridge in Velmora opens after six years of work\n\n"
         b"The new harbour bridge in the town of Velmora opened to traffic on Friday, after six "
         b"years of construction.\n\nMayor Ilse Brandvik said the bridge cost 48 million euros.\n")


def test_a_mixed_batch_indexes_the_good_files_and_names_the_bad(tmp_path: Path) -> None:
    service = Service(Settings.from_env().with_(home=tmp_path / "home", chroma_url=None,
                                                max_file_mb=0.05))
    seen: list[tuple[float, str]] = []
    files = [
        ("velmora.txt", STORY),
        ("holiday.txt", (MESSY / "holiday-photo.txt").read_bytes()),
        ("scan.pdf", (MESSY / "scanned-letter.pdf").read_bytes()),
        ("report.pdf", (MESSY / "harbour-annual-report.pdf").read_bytes()),
        ("café.txt", (MESSY / "gare-cafe-latin1.txt").read_bytes()),
        ("big.txt", b"word " * 20_000),  # 100 KB: over the 0.05 MB limit set above
    ]
    result = service.add_files(files, progress=lambda f, d: seen.append((f, d)))
    by_name = {o.name: o for o in result.outcomes}
    assert [o.name for o in result.outcomes] == [n for n, _ in files]  # in the order given
    assert {n for n, o in by_name.items() if o.indexed} == {"velmora.txt", "report.pdf",
                                                            "café.txt"}
    assert by_name["holiday.txt"].message.startswith("this is a PNG image")
    assert "no text layer" in by_name["scan.pdf"].message and "OCR" in by_name["scan.pdf"].message
    assert "the limit is 0.05 MB (RAG_MAX_FILE_MB)" in by_name["big.txt"].message
    assert "encoding is uncertain" in by_name["café.txt"].message
    assert result.summary() == "3 indexed, 3 skipped: holiday.txt, scan.pdf, big.txt"

    # the REST API's upload result: the same outcomes as JSON
    d = result.to_dict()
    assert d["indexed"] == 3 and d["skipped"] == 3 and d["summary"] == result.summary()
    assert {f["name"]: f["status"] for f in d["files"]}["scan.pdf"] == "skipped"

    # skipped files are not kept; indexed ones are answerable
    kept = sorted(p.suffix for p in service.uploads_dir.iterdir() if p.name != NAMES_FILE)
    assert kept == [".pdf", ".txt", ".txt"]
    arts = service.articles()
    assert len(arts) == 3 and any("Velmora" in a.text for a in arts.values())

    # progress: real chunk counts, only ever forward, ending at 1
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("chunks" in d and "articles" in d for _, d in seen)


def test_re_adding_the_same_file_says_so(tmp_path: Path) -> None:
    service = Service(Settings.from_env().with_(home=tmp_path / "home", chroma_url=None))
    service.add_files([("velmora.txt", STORY)])
    again = service.add_files([("copy.txt", STORY)])
    assert again.outcomes[0].indexed and again.outcomes[0].message == "already indexed"
