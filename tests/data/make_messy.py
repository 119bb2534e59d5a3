"""Write the messy-file corpus in tests/data/messy/ (run from the repository root).

The files are committed; this script says how each was made, so they can be made again:
``.venv/bin/python tests/data/make_messy.py``. The hand-written web page
(daily-planet-storm.html) and the plain-text sources are kept as they are; the encoded,
PDF, Word and binary files are generated from them here.
"""

from __future__ import annotations

import textwrap
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent / "messy"

RUSSIAN = """Опубликовано: 26 марта 2024

Паводок в Оренбургской области: эвакуированы более двух тысяч жителей

Весенний паводок в Оренбургской области усилился в ночь на вторник, когда вода в реке Урал \
поднялась на полтора метра за сутки.

По словам губернатора, из подтопленных домов эвакуированы более двух тысяч жителей, в том \
числе 412 детей. Для них открыты двенадцать пунктов временного размещения.

Спасатели сообщили, что дамба у посёлка Ключи выдержала напор воды, однако работы по её \
укреплению продолжатся до конца недели.

Синоптики ожидают, что уровень воды начнёт снижаться не раньше пятницы.
"""

CHINESE = """发布日期：2024年3月26日

北京地铁新线路开通 日均客流预计超过二十万人次

北京地铁十七号线北段于周二正式开通运营，全长约十五公里，共设七座车站。

运营方表示，新线路开通后，沿线居民前往市中心的通勤时间将缩短约二十分钟，日均客流预计超过二十万人次。

为保障开通初期的运营安全，地铁公司在各站增派了三百余名工作人员，并延长了首末班车的运营时间。

市交通委员会称，十七号线南段工程进展顺利，预计明年年底前全线贯通。
"""

FRENCH = """Publié le 26 mars 2024

Le café de la gare rouvre après deux ans de travaux

Le célèbre café de la gare de Lyon a rouvert ses portes mardi matin, après deux années de \
rénovation qui ont coûté près de 1,2 million d'euros.

« Nous avons gardé l'âme du lieu », a déclaré la gérante, Hélène Dupré, devant une file \
d'habitués venus goûter le premier crème de la journée.

La salle, classée monument historique, a retrouvé ses plafonds peints et son comptoir en zinc \
d'origine. Les prix restent modérés : l'expresso coûte 1,80 euro.

Les travaux ont été financés à moitié par la région et à moitié par l'exploitant, qui prévoit \
d'embaucher douze serveurs d'ici l'été.
"""

ENGLISH_UTF16 = """Harbour bridge reopens after repairs

Published: Tue, 26 Mar 2024 10:00:00 GMT

The Harbour Bridge reopened to traffic on Tuesday after eleven weeks of repairs to its steel \
cables, the city's transport department said.

About 45,000 vehicles crossed the bridge each day before it closed in January, when \
inspectors found corrosion in four of the main cables.

The repairs cost 18 million dollars, two million more than planned, because winter storms \
delayed the work by nine days.

Engineers said the bridge would be inspected every six months for the next three years.
"""

FERRY = """{date}

Ferry capsizes off Port Alden in heavy seas

A passenger ferry capsized off Port Alden on Sunday evening in heavy seas, and {dead} people \
were killed, the coastguard said on Monday.

The ferry was carrying 230 passengers and crew from Port Alden to the island of Merrow when it \
was struck by a wave about two miles from the harbour.

Rescue boats and two helicopters pulled 189 people from the water during the night, and divers \
were still searching the wreck on Monday afternoon.

The ferry operator, Alden Sea Lines, said it would cooperate fully with the investigation.

The harbour master said the crossing had been allowed to go ahead because the forecast at \
departure time was within the ferry's limits.
"""

PDF_PAGES = [
    ["Harbour Authority - Annual Report 2023",
     "",
     "Harbour Authority annual report for 2023",
     "",
     *textwrap.wrap(
         "The Harbour Authority handled 4.2 million tonnes of cargo in 2023, eight per cent "
         "more than in the year before, as container traffic through the new east terminal "
         "grew for the third year running.", 78),
     "",
     *textwrap.wrap(
         "Passenger numbers on the island ferries reached 1.1 million, close to the level "
         "last seen before the pandemic. The authority invested 35 million euros in the east "
         "terminal, in new cranes and in the dredging of the main channel, which now admits "
         "ships with a draught of fourteen metres at any tide. The dredging was finished in "
         "September, two months later than planned, because", 78),
     "",
     "Page 1 of 2"],
    ["Harbour Authority - Annual Report 2023",
     "",
     *textwrap.wrap(
         "storms in the spring stopped the work for five weeks. The authority expects the "
         "deeper channel to bring two new shipping lines to the port in 2024.", 78),
     "",
     *textwrap.wrap(
         "The chief executive, Maria Jensen, said the year showed that the port could grow "
         "while cutting its emissions: the shore power installed at the ferry berths cut the "
         "diesel burnt by ships at the quay by a third.", 78),
     "",
     "Page 2 of 2"],
]


def pdf(pages: list[list[str]] | None, image_only: bool = False) -> bytes:
    """A minimal PDF: Helvetica text pages, or one page holding only an image (a scan)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
               b"/Encoding /WinAnsiEncoding >>")
    kids = []
    if image_only:
        pixels = bytes((x * 37 + y * 11) % 256 for y in range(64) for x in range(64))
        data = zlib.compress(pixels)
        image = add(b"<< /Type /XObject /Subtype /Image /Width 64 /Height 64 "
                    b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
                    b"/Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
        content = b"q 612 0 0 792 0 0 cm /Im1 Do Q"
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
                        b"/Contents %d 0 R /Resources << /XObject << /Im1 %d 0 R >> >> >>"
                        % (pages_obj, stream, image)))
    for lines in pages or []:
        ops = [b"BT /F1 11 Tf 14 TL 72 740 Td"]
        for line in lines:
            text = line.encode("cp1252").replace(b"\\", b"\\\\").replace(b"(", b"\\(")
            ops.append(b"(" + text.replace(b")", b"\\)") + b") Tj T*")
        ops.append(b"ET")
        content = b"\n".join(ops)
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
                        b"/Contents %d 0 R /Resources << /Font << /F1 %d 0 R >> >> >>"
                        % (pages_obj, stream, font)))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objects[pages_obj - 1] = (b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % k for k in kids)
                              + b"] /Count %d >>" % len(kids))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += (b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objects) + 1, catalog, xref))
    return bytes(out)


def docx(path: Path) -> None:
    """A Word file of two pages (a hard page break), with a Title paragraph."""
    from docx import Document
    from docx.enum.text import WD_BREAK

    doc = Document()
    doc.core_properties.title = "Council minutes"
    doc.add_paragraph("Council approves new cycle lanes for the city centre", style="Title")
    doc.add_paragraph("Published 26 March 2024")
    doc.add_paragraph(
        "The city council on Monday approved plans for 14 kilometres of protected cycle lanes "
        "in the city centre, after a debate that lasted more than four hours.")
    last = doc.add_paragraph(
        "Councillors voted 31 to 12 in favour of the plan, which will cost 9.5 million pounds "
        "and is due to be finished by the end of 2025.")
    last.runs[-1].add_break(WD_BREAK.PAGE)
    doc.add_paragraph(
        "Shop owners on Market Street had asked for the lanes to avoid their delivery bays, "
        "and the council agreed to move two loading zones to side streets.")
    doc.add_paragraph(
        "The transport committee will publish a timetable for the work in May, the council "
        "leader, Aisha Khan, said after the vote.")
    doc.save(path)


def main() -> None:
    HERE.mkdir(exist_ok=True)
    (HERE / "moscow-flood-cp1251.txt").write_bytes(RUSSIAN.encode("cp1251"))
    (HERE / "beijing-metro-gbk.txt").write_bytes(CHINESE.encode("gbk"))
    (HERE / "gare-cafe-latin1.txt").write_bytes(FRENCH.encode("latin-1"))
    (HERE / "harbour-bridge-utf16.txt").write_bytes(ENGLISH_UTF16.encode("utf-16"))
    (HERE / "ferry-wire.txt").write_text(FERRY.format(date="Published: 25 March 2024",
                                                      dead="twelve"))
    (HERE / "ferry-local.txt").write_text(FERRY.format(date="Published: 25/03/2024",
                                                       dead="fourteen"))
    (HERE / "harbour-annual-report.pdf").write_bytes(pdf(PDF_PAGES))
    (HERE / "scanned-letter.pdf").write_bytes(pdf(None, image_only=True))
    docx(HERE / "council-cycle-lanes.docx")
    (HERE / "empty.txt").write_bytes(b"")
    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
           b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe"
           b"\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")
    (HERE / "holiday-photo.txt").write_bytes(png)
    (HERE / "figures.csv").write_text("year,tonnes\n2022,3.9\n2023,4.2\n")


if __name__ == "__main__":
    main()
