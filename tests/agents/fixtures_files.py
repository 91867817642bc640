"""Files with known, planted content, generated in code (never downloaded). Each builder returns
bytes; what it planted is documented so tests can check the agents found exactly that."""

from __future__ import annotations

import io
import json
import math
import random
import struct
import zipfile
from datetime import UTC, date, datetime, timedelta

# ---------------------------------------------------------------------------- images

GPS_LATITUDE = 48.858222  # 48° 51' 29.6" N (the Eiffel Tower)
GPS_LONGITUDE = 2.2945  # 2° 17' 40.2" E
EXIF_TAKEN = "2021:03:04 05:06:07"


def jpeg_with_gps() -> bytes:
    """A JPEG whose EXIF names a camera, a capture time and a GPS position (planted above)."""
    from PIL import Image

    img = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D"
    exif[0x0131] = "PlantedSoft 1.0"
    exif[0x0132] = EXIF_TAKEN
    exif.get_ifd(0x8769)[0x9003] = EXIF_TAKEN
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.6)
    gps[3], gps[4] = "E", (2.0, 17.0, 40.2)
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


def png_plain() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 128, 255)).save(out, "PNG")
    return out.getvalue()


# ---------------------------------------------------------------------------- PDF

PDF_JAVASCRIPT = "app.alert('planted-js-marker');"
PDF_LAUNCH = "cmd.exe"
PDF_AUTHOR = "Mallory Planted"


def pdf_with_javascript(*, launch: bool = True) -> bytes:
    """One page; document-level JavaScript (the /Names /JavaScript tree); optionally an
    /OpenAction that launches cmd.exe; info with author and creation date 2020-01-02T03:04:05Z."""
    catalog = "<< /Type /Catalog /Pages 2 0 R /Names << /JavaScript 6 0 R >>"
    catalog += " /OpenAction 8 0 R >>" if launch else " >>"
    extra = [
        "<< /Names [(planted) 7 0 R] >>",
        f"<< /Type /Action /S /JavaScript /JS ({_pdf_escape(PDF_JAVASCRIPT)}) >>",
        f"<< /Type /Action /S /Launch /F ({PDF_LAUNCH}) >>",
        f"<< /Author ({PDF_AUTHOR}) /Title (Invoice) /CreationDate (D:20200102030405Z) "
        "/ModDate (D:20200103000000+01'00') >>",
    ]
    return _pdf(["Invoice attached."], catalog=catalog, extra=extra, info=9)


def pdf_plain(text_lines: list[str] | None = None) -> bytes:
    """A PDF with real text on its page (a hand-written content stream with Helvetica)."""
    return _pdf(text_lines or ["Plain document."])


def _pdf(lines: list[str], *, catalog: str = "", extra: list[str] | None = None, info: int = 0) -> bytes:
    stream = "BT /F1 11 Tf 50 750 Td 14 TL " + " ".join(f"({_pdf_escape(t)}) '" for t in lines) + " ET"
    objects = [
        catalog or "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *(extra or []),
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R" + (f" /Info {info} 0 R >>" if info else " >>")
    out.write(f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


# ---------------------------------------------------------------------------- Office

DOCX_CREATOR = "Eve Planted"
DOCX_CREATED = "2019-05-06T07:08:09Z"
DOCX_COMPANY = "Planted Corp"


def docx(*, macro: bool = False, paragraphs: list[str] | None = None, remote_template: str = "") -> bytes:
    """A minimal but valid Word document; with `macro`, word/vbaProject.bin and the
    macro-enabled content type (a .docm in all but name)."""
    paragraphs = paragraphs or ["Quarterly report."]
    main_type = (
        "application/vnd.ms-word.document.macroEnabled.main+xml"
        if macro
        else "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        + ('<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>' if macro else "")
        + f'<Override PartName="/word/document.xml" ContentType="{main_type}"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'  # noqa: E501
        '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'  # noqa: E501
        "</Types>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'  # noqa: E501
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'  # noqa: E501
        '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/>'  # noqa: E501
        "</Relationships>"
    )
    body = "".join(f'<w:p><w:r><w:t xml:space="preserve">{_xml(p)}</w:t></w:r></w:p>' for p in paragraphs)
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{body}</w:body></w:document>"
    )
    core = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '  # noqa: E501
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>Planted report</dc:title><dc:creator>{DOCX_CREATOR}</dc:creator>"
        "<cp:lastModifiedBy>Trudy</cp:lastModifiedBy><cp:revision>3</cp:revision>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{DOCX_CREATED}</dcterms:created>'
        '<dcterms:modified xsi:type="dcterms:W3CDTF">2019-05-07T00:00:00Z</dcterms:modified>'
        "</cp:coreProperties>"
    )
    app = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
        f"<Application>Microsoft Office Word</Application><Company>{DOCX_COMPANY}</Company>"
        "<Pages>1</Pages></Properties>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", content_types)
        z.writestr("_rels/.rels", rels)
        z.writestr("word/document.xml", document)
        z.writestr("docProps/core.xml", core)
        z.writestr("docProps/app.xml", app)
        if macro:
            # An OLE header and the stream names a VBA project carries; content is not executed.
            z.writestr(
                "word/vbaProject.bin",
                b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
                + b"\x00" * 504
                + "_VBA_PROJECT".encode("utf-16le")
                + b"AutoOpen Shell powershell -enc ...",
            )
            z.writestr(
                "word/_rels/document.xml.rels",
                '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                '<Relationship Id="rId9" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="vbaProject.bin"/>'  # noqa: E501
                "</Relationships>",
            )
        if remote_template:
            z.writestr(
                "word/_rels/settings.xml.rels",
                '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate" '  # noqa: E501
                f'Target="{_xml(remote_template)}" TargetMode="External"/></Relationships>',
            )
    return out.getvalue()


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# ---------------------------------------------------------------------------- PE

PE_COMPILE_TIME = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
PE_IMPORTS = ("VirtualAllocEx", "WriteProcessMemory", "CreateRemoteThread")
PE_EMBEDDED_URL = "http://malware.example.net/gate.php"


def small_pe(*, imports: tuple[str, ...] = PE_IMPORTS, compile_time: datetime = PE_COMPILE_TIME) -> bytes:
    """A minimal PE32 i386 GUI executable built byte by byte: a .text section (a `ret` and an
    embedded C2 URL) and an .idata section importing `imports` from KERNEL32.dll."""
    file_align, section_align = 0x200, 0x1000
    text_rva, idata_rva = 0x1000, 0x2000
    # .idata layout (offsets within the section)
    descriptors = 0x00
    ilt = 0x28
    iat = ilt + 4 * (len(imports) + 1)
    dll_name = iat + 4 * (len(imports) + 1)
    hints = dll_name + 16
    hint_entries, names_blob = [], b""
    for name in imports:
        hint_entries.append(idata_rva + hints + len(names_blob))
        entry = b"\x00\x00" + name.encode() + b"\x00"
        names_blob += entry + (b"\x00" if len(entry) % 2 else b"")
    idata = bytearray(file_align)
    struct.pack_into(
        "<IIIII", idata, descriptors, idata_rva + ilt, 0, 0, idata_rva + dll_name, idata_rva + iat
    )
    for i, rva in enumerate(hint_entries):
        struct.pack_into("<I", idata, ilt + 4 * i, rva)
        struct.pack_into("<I", idata, iat + 4 * i, rva)
    idata[dll_name : dll_name + 13] = b"KERNEL32.dll\x00"
    idata[hints : hints + len(names_blob)] = names_blob

    text = bytearray(file_align)
    text[0] = 0xC3  # ret
    url = PE_EMBEDDED_URL.encode() + b"\x00"
    text[0x20 : 0x20 + len(url)] = url
    wide = "Global\\PlantedMutex".encode("utf-16le") + b"\x00\x00"
    text[0x80 : 0x80 + len(wide)] = wide

    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x40)
    coff = struct.pack("<HHIIIHH", 0x14C, 2, int(compile_time.timestamp()), 0, 0, 0xE0, 0x0102)
    optional = struct.pack(
        "<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII",
        0x10B,
        14,
        0,
        file_align,
        file_align,
        0,
        text_rva,
        text_rva,
        idata_rva,
        0x400000,
        section_align,
        file_align,
        6,
        0,
        0,
        0,
        6,
        0,
        0,
        0x3000,
        0x200,
        0,
        2,
        0,
        0x100000,
        0x1000,
        0x100000,
        0x1000,
        0,
        16,
    )
    directories = bytearray(16 * 8)
    struct.pack_into("<II", directories, 8, idata_rva, 40)  # [1] import table
    struct.pack_into("<II", directories, 12 * 8, idata_rva + iat, 4 * (len(imports) + 1))  # [12] IAT
    sections = struct.pack(
        "<8sIIIIIIHHI", b".text", file_align, text_rva, file_align, 0x200, 0, 0, 0, 0, 0x60000020
    )
    sections += struct.pack(
        "<8sIIIIIIHHI", b".idata", file_align, idata_rva, file_align, 0x400, 0, 0, 0, 0, 0xC0000040
    )
    headers = bytes(dos) + b"PE\x00\x00" + coff + optional + bytes(directories) + sections
    headers += b"\x00" * (0x200 - len(headers))
    return headers + bytes(text) + bytes(idata)


# ---------------------------------------------------------------------------- archives


def zip_of(
    members: dict[str, bytes],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
    modified: tuple = (2022, 6, 7, 8, 9, 10),
) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, content in members.items():
            info = zipfile.ZipInfo(name, date_time=modified)
            info.compress_type = compression
            z.writestr(info, content)
    return out.getvalue()


NESTED_SECRET = b"innermost planted text: contact http://deep.example.org/inner\n"


def nested_zips(levels: int = 3) -> bytes:
    """level0.zip > level1.zip > ... > secret.txt (each level also holds a small note)."""
    data = zip_of({"secret.txt": NESTED_SECRET})
    for level in range(levels - 1, 0, -1):
        data = zip_of({f"level{level}.zip": data, f"note{level}.txt": b"just a note\n"})
    return data


ZIP_BOMB_MEMBER_BYTES = 64 * 1024 * 1024


def zip_bomb() -> bytes:
    """One member of 64 MiB of zeros, deflated to ~64 KiB (ratio ~1000:1)."""
    return zip_of({"zeros.bin": b"\x00" * ZIP_BOMB_MEMBER_BYTES})


def lying_zip_bomb() -> bytes:
    """A bomb whose central directory lies: it claims the member is 1 KiB, so only the bounded
    read can stop it."""
    data = bytearray(zip_bomb())
    # patch the uncompressed size in the local header (offset 22) and in the central directory
    struct.pack_into("<I", data, 22, 1024)
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 1024)
    return bytes(data)


def password_protected_zip() -> bytes:
    """A zip whose member has the encryption flag set (as WinZip / 7-Zip ZipCrypto write it)."""
    data = bytearray(zip_of({"hidden.exe": small_pe()}, compression=zipfile.ZIP_STORED))
    data[6] |= 0x01  # general purpose flag, local header
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 0x01  # and in the central directory
    return bytes(data)


# ---------------------------------------------------------------------------- text

KEY_SENTENCES = [
    "The ransomware group Black Lantern encrypted the hospital network on 3 March 2024.",
    "Black Lantern demanded a ransom of 40 bitcoin from the hospital within 72 hours.",
    "Investigators linked the Black Lantern ransomware to the domain lantern-pay.example.com.",
]
FILLER_SENTENCES = [
    "The weather in the region was mild for the season.",
    "Local markets opened as usual on Monday morning.",
    "A new bakery opened on the corner of the main square.",
    "Traffic was light because of the school holidays.",
    "The city council discussed the budget for public parks.",
    "Several residents walked their dogs along the river.",
    "The library extended its opening hours during the week.",
    "A football match drew a large crowd in the evening.",
    "Farmers reported a good harvest of apples this year.",
    "The museum displayed a collection of old maps.",
]


def report_text() -> str:
    """Key sentences (about one subject, repeating its terms) spread among unrelated filler."""
    parts = [
        KEY_SENTENCES[0],
        *FILLER_SENTENCES[:4],
        KEY_SENTENCES[1],
        *FILLER_SENTENCES[4:7],
        KEY_SENTENCES[2],
        *FILLER_SENTENCES[7:],
    ]
    return "Incident report\n\n" + " ".join(parts[:6]) + "\n\n" + " ".join(parts[6:]) + "\n"


FRENCH_TEXT = (
    "Le rapport indique que les attaquants ont utilisé une vulnérabilité dans le serveur de la ville. "
    "Les enquêteurs pensent que le groupe est le même que celui qui a attaqué les hôpitaux de la région. "
    "Il est possible que les données des patients aient été volées pendant la nuit."
)
GERMAN_TEXT = (
    "Der Bericht zeigt, dass die Angreifer eine Schwachstelle in dem Server der Stadt genutzt haben. "
    "Die Ermittler glauben, dass es sich um die gleiche Gruppe handelt, die auch die Krankenhäuser angegriffen hat."  # noqa: E501
)

# ---------------------------------------------------------------------------- tabular

OUTLIER_ROWS = (17, 123, 301)  # 0-based data row indices of the planted outliers


def metrics_csv(rows: int = 400, *, seed: int = 7) -> str:
    """Daily server metrics with a rising trend in `requests`, `latency_ms` tied to `cpu`, three
    planted outlier rows (huge latency and bytes), a few missing values and a category column."""
    rng = random.Random(seed)
    start = date(2024, 1, 1)
    lines = ["date,host,cpu,latency_ms,requests,bytes_out,status"]
    for i in range(rows):
        cpu = rng.gauss(40, 8)
        latency = 20 + cpu * 1.5 + rng.gauss(0, 3)
        requests = 1000 + 5 * i + rng.gauss(0, 40)
        bytes_out = rng.gauss(5_000, 400)
        if i in OUTLIER_ROWS:
            latency, bytes_out = 2_500 + rng.random() * 100, 900_000 + rng.random() * 1000
        cells = [
            (start + timedelta(days=i)).isoformat(),
            rng.choice(["web-1", "web-2", "web-3"]),
            f"{cpu:.2f}",
            f"{latency:.2f}",
            f"{requests:.0f}",
            f"{bytes_out:.0f}",
            rng.choice(["ok", "ok", "ok", "degraded"]),
        ]
        if i % 50 == 5:
            cells[2] = ""  # planted missing cpu
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


CLUSTER_CENTRES = [(0.0, 0.0, 0.0), (10.0, 10.0, 0.0), (0.0, 10.0, 10.0)]


def clusters_csv(per_cluster: int = 60, *, seed: int = 3) -> str:
    """Three well separated Gaussian blobs in (x, y, z); the true cluster is in `true_cluster`."""
    rng = random.Random(seed)
    lines = ["x,y,z,true_cluster"]
    for label, centre in enumerate(CLUSTER_CENTRES):
        for _ in range(per_cluster):
            x, y, z = (c + rng.gauss(0, 1.0) for c in centre)
            lines.append(f"{x:.3f},{y:.3f},{z:.3f},{label}")
    return "\n".join(lines) + "\n"


def labelled_csv(rows: int = 300, *, seed: int = 11) -> str:
    """A separable classification problem: `label` is `attack` when bytes and failures are high."""
    rng = random.Random(seed)
    lines = ["bytes,failed_logins,duration,protocol,label"]
    for _ in range(rows):
        attack = rng.random() < 0.4
        bytes_ = rng.gauss(90_000 if attack else 10_000, 8_000)
        failed = max(0, int(rng.gauss(12 if attack else 1, 2)))
        duration = abs(rng.gauss(30, 10))
        protocol = rng.choice(["tcp", "udp"]) if not attack else rng.choice(["tcp", "tcp", "icmp"])
        lines.append(f"{bytes_:.0f},{failed},{duration:.1f},{protocol},{'attack' if attack else 'normal'}")
    return "\n".join(lines) + "\n"


def jsonl_rows(rows: int = 50) -> str:
    return (
        "\n".join(json.dumps({"id": i, "score": math.sin(i) * 10, "tag": "ab"[i % 2]}) for i in range(rows))
        + "\n"
    )


# ---------------------------------------------------------------------------- logs

LOG_ANOMALY_MARKERS = (
    "kernel: Out of memory: Killed process",
    "sshd[666]: Accepted publickey for root from 203.0.113.66",
    "cron[1]: /tmp/.x/miner --pool stratum+tcp://pool.example.net:3333",
)


def auth_log(lines: int = 600, *, seed: int = 5) -> tuple[str, list[int]]:
    """Routine web and ssh log lines with three planted anomalies. Returns (text, 0-based line
    numbers of the anomalies)."""
    rng = random.Random(seed)
    start = datetime(2024, 5, 1, 8, 0, 0)
    out, planted = [], []
    anomaly_at = {lines // 5: 0, lines // 2: 1, (4 * lines) // 5: 2}
    for i in range(lines):
        stamp = (start + timedelta(seconds=7 * i)).strftime("%b %d %H:%M:%S")
        if i in anomaly_at:
            out.append(f"{stamp} srv {LOG_ANOMALY_MARKERS[anomaly_at[i]]} " + "X" * 0)
            planted.append(i)
            continue
        kind = rng.random()
        if kind < 0.7:
            path = rng.choice(["/", "/index.html", "/login", "/static/app.js", "/api/items"])
            out.append(
                f"{stamp} srv nginx[{rng.randint(100, 120)}]: 10.0.0.{rng.randint(2, 40)} GET {path} 200 "
                f"{rng.randint(200, 900)}"
            )
        else:
            out.append(
                f"{stamp} srv sshd[{rng.randint(2000, 2100)}]: Connection closed by 10.0.0.{rng.randint(2, 40)} "  # noqa: E501
                f"port {rng.randint(40000, 60000)} [preauth]"
            )
    return "\n".join(out) + "\n", planted


# ---------------------------------------------------------------------------- documents for clustering

TOPIC_DOCUMENTS = {
    "phishing": [
        "Phishing email asked staff to reset their password on a fake login page.",
        "The phishing campaign used a spoofed sender and a fake password reset link.",
        "Users reported a phishing email with a login page stealing their password.",
        "A phishing kit cloned the webmail login page to harvest password entries.",
    ],
    "ransomware": [
        "Ransomware encrypted the file server and left a ransom note demanding bitcoin.",
        "The ransomware operators demanded bitcoin after encrypting backups.",
        "Encrypted files and a ransom note showed a ransomware infection on the server.",
        "Ransomware spread through shares and encrypted every file with a ransom demand.",
    ],
    "ddos": [
        "A DDoS flood of UDP traffic saturated the network link for an hour.",
        "The botnet launched a DDoS attack with a flood of SYN packets against the network.",
        "Traffic from the DDoS botnet flooded the network and the website went down.",
        "Mitigation filtered the DDoS flood traffic at the network edge.",
    ],
}
