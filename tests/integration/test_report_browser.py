"""The HTML report in a real browser: headless Chromium draws and lays it out.

The page is opened from a file with networking features off; the screenshot is
decoded with the standard library and must show each chart's own colours (the
page's CSS uses none of them), so a blank page, a page whose SVG did not render
or a chart that lost its bars all fail.

The demo's report is measured at 1400 px: a copy of it with a measuring script
(the report itself has none, and its CSP forbids one) writes what the layout
engine found into the DOM, which ``--dump-dom`` returns. No table cell's content
overflows the cell, no column is narrower than the longest unbreakable word of
one of its cells (a column squeezed to a few characters), nothing is wider than
the page, and with every ``<details>`` closed the page is at most 26,000 px tall (50 checks).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from das_evidence.config import ChecksConfig
from das_evidence.reports import charts
from das_evidence.reports.render import build_report_data, render_html
from tests.unit.reports.test_render import GENERATED, ORIGIN, sample

WIDTH, MIN_HEIGHT = 1280, 1500
# 50 checks since the CIS benchmark's (issue 12): a coverage table, the controls table
# and one article per check; 23,600 px measured with details closed.
DEMO_WIDTH, DEMO_MAX_HEIGHT = 1400, 26_000
DEMO_NOW = "2026-11-27T06:00:00Z"


def _headless(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
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
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


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
    # the whole page: its charts sit below the findings
    full = measure_layout(chromium, page, profile, WIDTH)["closed"]["scroll_height"]
    proc = _headless(
        chromium, profile, f"--screenshot={png}", f"--window-size={WIDTH},{full}", page.as_uri()
    )
    print(f"report screenshot: {png}")
    assert proc.returncode == 0 and png.exists(), proc.stderr[-2000:]

    width, height, rows = decode_png(png.read_bytes())
    assert (width, height) == (WIDTH, full) and full > MIN_HEIGHT
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


# -- the demo's report, laid out at 1400 px ------------------------------------------------

# Runs in a copy of the report. For each rendered table cell: does its content overflow
# it (scrollWidth > clientWidth), and is its content box narrower than the content's
# min-content width with ordinary line breaking (its longest unbreakable word, found by
# laying the cell's content out again in a min-content box)? Also: boxes wider than
# their parent's content box, and the document's size. Once with every <details>
# closed, once with every one open.
MEASURE_JS = """
(function () {
  function rendered(el) {
    return el.getClientRects().length > 0 && !el.closest('details:not([open])');
  }
  function measure(open) {
    document.querySelectorAll('details').forEach(function (d) { d.open = open; });
    var probe = document.createElement('div');
    probe.style.cssText = 'position:absolute;left:0;top:0;visibility:hidden;width:min-content;' +
      'white-space:normal;word-break:normal;overflow-wrap:normal;';
    document.body.appendChild(probe);
    var out = {cells: 0, overflowing: [], narrower_than_a_word: [], wider_than_parent: []};
    document.querySelectorAll('td, th').forEach(function (c) {
      if (!rendered(c)) return;
      out.cells++;
      var cs = getComputedStyle(c);
      var inner = c.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
      var text = c.textContent.trim().replace(/\\s+/g, ' ').slice(0, 80);
      if (c.scrollWidth > c.clientWidth + 1) {
        out.overflowing.push([text, c.scrollWidth, c.clientWidth]);
      }
      probe.style.font = cs.font;
      probe.style.letterSpacing = cs.letterSpacing;
      probe.replaceChildren();
      c.childNodes.forEach(function (n) { probe.appendChild(n.cloneNode(true)); });
      probe.querySelectorAll('details:not([open]) > :not(summary)').forEach(function (n) {
        n.remove();
      });
      var need = probe.getBoundingClientRect().width;
      if (inner + 1 < need) {
        out.narrower_than_a_word.push([text, Math.round(need), Math.round(inner)]);
      }
    });
    probe.remove();
    document.querySelectorAll('table, pre, figure, p, ul, dl').forEach(function (el) {
      if (!rendered(el)) return;
      var p = el.parentElement, ps = getComputedStyle(p), r = el.getBoundingClientRect();
      var right = p.getBoundingClientRect().right - parseFloat(ps.paddingRight) -
        parseFloat(ps.borderRightWidth);
      if (r.right > right + 1) {
        out.wider_than_parent.push([el.tagName, el.textContent.trim().slice(0, 60),
                                    Math.round(r.right - right)]);
      }
    });
    out.scroll_height = document.documentElement.scrollHeight;
    out.scroll_width = document.documentElement.scrollWidth;
    out.viewport_width = window.innerWidth;
    out.details = document.querySelectorAll('details').length;
    return out;
  }
  var result = {closed: measure(false), open: measure(true)};
  document.querySelectorAll('details').forEach(function (d) { d.open = false; });
  var pre = document.createElement('pre');
  pre.id = 'layout-measurements';
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
})();
"""


def measure_layout(chromium: str, report: Path, profile: Path, width: int) -> dict[str, Any]:
    """What Chromium's layout of ``report`` at ``width`` px found (see MEASURE_JS)."""
    text = report.read_text(encoding="utf-8")
    csp = "default-src 'none';"
    assert text.count(csp) == 1 and "<script" not in text
    text = text.replace(csp, csp + " script-src 'unsafe-inline';")
    text = text.replace("</body>", f"<script>{MEASURE_JS}</script></body>")
    page = report.with_name("measured.html")
    page.write_text(text, encoding="utf-8")
    proc = _headless(chromium, profile, f"--window-size={width},1000", "--dump-dom", page.as_uri())
    found = re.search(r'<pre id="layout-measurements">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return result


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``evidence demo``'s report.html, as an auditor gets it."""
    _chromium()  # skip before spending the demo's time when there is no browser
    directory = tmp_path_factory.mktemp("demo") / "evidence-demo"
    proc = subprocess.run(
        [sys.executable, "-m", "das_evidence.cli.main", "demo", "--dir", str(directory)],
        env=dict(os.environ, EVIDENCE_NOW=DEMO_NOW),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = directory / "report.html"
    assert report.exists(), (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    return report


def test_the_demo_report_fits_its_columns_and_10000_px_at_1400_px(
    demo_report: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    chromium = _chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")
    m = measure_layout(chromium, demo_report, profile, DEMO_WIDTH)
    closed, opened = m["closed"], m["open"]
    print(f"demo report at {DEMO_WIDTH} px: {json.dumps(m, indent=1)[:4000]}")
    assert closed["viewport_width"] == DEMO_WIDTH
    assert closed["details"] > 10 and opened["cells"] > closed["cells"] > 100
    for state in (closed, opened):
        assert state["overflowing"] == []
        assert state["narrower_than_a_word"] == []
        assert state["wider_than_parent"] == []
        assert state["scroll_width"] <= DEMO_WIDTH
    assert closed["scroll_height"] <= DEMO_MAX_HEIGHT

    # The screenshot an auditor would see, the whole page with details closed.
    png = demo_report.with_name("report-1400.png")
    height = closed["scroll_height"]
    shot = _headless(
        chromium,
        profile,
        f"--screenshot={png}",
        f"--window-size={DEMO_WIDTH},{height}",
        demo_report.as_uri(),
    )
    print(f"demo report screenshot: {png}")
    assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
    width, rows_height, rows = decode_png(png.read_bytes())
    assert (width, rows_height) == (DEMO_WIDTH, height)
    pixels: Counter[tuple[int, int, int]] = Counter()
    for row in rows:
        pixels.update(zip(row[0::3], row[1::3], row[2::3], strict=True))
    # the logins and PHI-reads charts are drawn (beside their checks)
    for name in ("login_succeeded", "phi_reads"):
        assert pixels[_hex(charts.COLORS[name])] >= 300, name


def test_the_demo_report_has_no_json_in_a_table_cell(demo_report: Path) -> None:
    cells = re.findall(r"<td[^>]*>(.*?)</td>", demo_report.read_text(encoding="utf-8"), re.S)
    assert len(cells) > 100
    # JSON: a list or object, or "key": pairs. A quoted name (a dbt relation such as
    # "db"."schema"."table") is a value as the source wrote it, not JSON.
    json_like = r"^\s*[\[{]|(&#34;|&quot;|\")[\w .-]*(&#34;|&quot;|\")\s*:"
    raw = [c for c in cells if re.search(json_like, c)]
    assert raw == []
