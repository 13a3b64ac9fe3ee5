"""The HTML report in a real browser: headless Chromium draws its four SVG charts.

The page is opened from a file with networking features off; the screenshot is
decoded with the standard library and must show each chart's own colours (the
page's CSS uses none of them), so a blank page, a page whose SVG did not render
or a chart that lost its bars all fail.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from collections import Counter

import pytest

from das_evidence.config import ChecksConfig
from das_evidence.reports import charts
from das_evidence.reports.render import build_report_data, render_html
from tests.unit.reports.test_render import GENERATED, ORIGIN, sample

WIDTH, HEIGHT = 1280, 3400  # the whole sample report, charts included


def _chromium() -> str:
    for candidate in ("chromium", "chromium-browser", "/usr/bin/chromium"):
        found = shutil.which(candidate)
        if found:
            return found
    message = "no chromium binary on PATH or at /usr/bin/chromium (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB bytes) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(idat)
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up_left = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], up_left)) & 0xFF
        prev = line
        if bpp == 4:
            del line[3::4]  # the screenshot is opaque: drop alpha
        rows.append(bytes(line))
    return width, height, rows


def _hex(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def test_report_renders_its_charts_in_headless_chromium(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    chromium = _chromium()
    builder, results = sample()
    report = build_report_data(
        builder.evidence(),
        results,
        title="Browser test report",
        generated_at=GENERATED,
        origin=ORIGIN,
        checks=ChecksConfig(),
    )
    # every chart has data, so each must draw its own bars or lines
    assert report.charts.logins.days and report.charts.phi_reads.roles
    assert report.charts.dbt_tests.invocations
    assert [d for d in report.charts.policy_changes.days if not d.baseline]

    out = tmp_path_factory.getbasetemp() / "report-browser"
    out.mkdir(exist_ok=True)
    page = out / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    png = out / "report.png"
    png.unlink(missing_ok=True)
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={WIDTH},{HEIGHT}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    print(f"report screenshot: {png}")
    assert proc.returncode == 0 and png.exists(), proc.stderr[-2000:]

    width, height, rows = decode_png(png.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    pixels: Counter[tuple[int, int, int]] = Counter()
    for row in rows:
        pixels.update(zip(row[0::3], row[1::3], row[2::3], strict=True))
    total = width * height
    non_white = total - pixels[(255, 255, 255)]
    assert len(pixels) > 50, f"only {len(pixels)} colours: the page is blank"
    assert non_white > total // 50, f"only {non_white} non-white pixels"

    def near(color: str, tolerance: int = 6) -> int:
        r, g, b = _hex(color)
        return sum(
            n
            for (pr, pg, pb), n in pixels.items()
            if abs(pr - r) <= tolerance and abs(pg - g) <= tolerance and abs(pb - b) <= tolerance
        )

    # Each chart's own colours cover more than its legend swatch (12 x 12 px at most).
    drawn = {
        name: near(charts.COLORS[name])
        for name in (
            "login_succeeded",
            "login_failed",
            "phi_reads",
            "change_added",
            "change_removed",
            "dbt_passed",
            "dbt_failed",
        )
    }
    print(f"chart pixels: {drawn}")
    for name, count in drawn.items():
        assert count >= 300, f"{name} drew {count} pixels: {drawn}"
