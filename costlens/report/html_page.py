"""The shell of every costlens HTML page: one self-contained file, its style and script inline.

A page must open offline, from a CI artifact or an e-mail, and show nothing a reviewer's
browser would fetch: no CDN, no web font, no external script, style or image. Its charts are
inline SVG (svg.py); the script only makes the layer table expand and sort, so a page read
without it still shows every figure.
"""
from __future__ import annotations

from html import escape

from .. import __version__

#: One colour per op kind (report/breakdown.py KINDS), the Okabe-Ito palette, which readers
#: with the common colour-vision deficiencies tell apart, and grey for "other".
PALETTE = ("#0072B2", "#56B4E9", "#009E73", "#E69F00", "#D55E00", "#CC79A7", "#F0E442",
           "#000000", "#BBBBBB")

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1200px;
       padding: 0 16px; color: #1d1d1f; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 32px; }
.sub { color: #555; margin: 2px 0; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 16px 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.card b { display: block; font-size: 18px; } .card span { color: #555; font-size: 12px; }
table { border-collapse: collapse; } th, td { padding: 3px 8px; text-align: right; }
th { border-bottom: 2px solid #ccc; white-space: nowrap; } td { border-bottom: 1px solid #eee; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
th[data-key] { cursor: pointer; } th[data-key]:hover { background: #f3f3f3; }
th.sorted::after { content: " \\25BE"; } th.sorted.ascending::after { content: " \\25B4"; }
td.figure { position: relative; min-width: 80px; }
td.figure .fill { position: absolute; left: 0; top: 3px; bottom: 3px; background: #cfe3f5;
                  z-index: -1; }
td.figure { z-index: 0; }
tr.total td { font-weight: 600; border-top: 2px solid #ccc; }
button.toggle { border: none; background: none; cursor: pointer; width: 18px; padding: 0;
                font-size: 11px; color: #555; }
tr:not(.open) > td > button.toggle::before { content: "\\25B8"; }
tr.open > td > button.toggle::before { content: "\\25BE"; }
.spacer { display: inline-block; width: 18px; }
.badge { display: inline-block; border-radius: 3px; padding: 0 5px; margin-left: 3px;
         font-size: 11px; color: #fff; background: #8a6d00; text-decoration: none; }
.badge.error { background: #b00020; } .badge.note { background: #4a6fa5; }
.badge.inside { background: #fff; color: #8a6d00; border: 1px solid #c9b25a; }
.legend { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; font-size: 12px; }
.legend i { display: inline-block; width: 11px; height: 11px; margin-right: 4px;
            vertical-align: -1px; }
.split td { border: none; padding: 2px 6px; } .split svg { display: block; }
.finding { border-left: 4px solid #8a6d00; padding: 4px 12px; margin: 10px 0; }
.finding.error { border-color: #b00020; } .finding.note { border-color: #4a6fa5; }
.finding p { margin: 4px 0; } .muted { color: #666; font-size: 12px; }
tr.flash td { background: #fff3bf; }
code { font-size: 12px; }
"""

SCRIPT = """
(function () {
  const table = document.getElementById("layers");
  if (!table) return;
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const children = new Map();
  for (const row of rows) {
    const parent = row.dataset.parent;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(row);
  }
  function show(name, visible) {
    for (const child of children.get(name) || []) {
      child.hidden = !visible;
      show(child.dataset.name, visible && child.classList.contains("open"));
    }
  }
  function setOpen(row, open) {
    row.classList.toggle("open", open);
    const button = row.querySelector("button.toggle");
    if (button) button.setAttribute("aria-expanded", String(open));
    show(row.dataset.name, open && !row.hidden);
  }
  body.addEventListener("click", function (event) {
    const button = event.target.closest("button.toggle");
    if (!button) return;
    const row = button.closest("tr");
    setOpen(row, !row.classList.contains("open"));
  });
  const depth = document.getElementById("depth");
  depth.addEventListener("change", function () {
    const limit = Number(depth.value);
    for (const row of rows) row.classList.toggle("open", Number(row.dataset.depth) < limit);
    show("", true);
  });
  let sortKey = null, ascending = false;
  function ordered(name, out) {
    const kids = (children.get(name) || []).slice();
    if (sortKey !== null) {
      kids.sort(function (a, b) {
        const x = a.querySelector('[data-key="' + sortKey + '"]');
        const y = b.querySelector('[data-key="' + sortKey + '"]');
        const vx = x.dataset.value, vy = y.dataset.value;
        const order = isNaN(Number(vx)) ? vx.localeCompare(vy) : Number(vx) - Number(vy);
        return ascending ? order : -order;
      });
    }
    for (const kid of kids) { out.push(kid); ordered(kid.dataset.name, out); }
    return out;
  }
  for (const header of table.tHead.querySelectorAll("th[data-key]")) {
    header.addEventListener("click", function () {
      const key = header.dataset.key;
      if (sortKey === key) { ascending = !ascending; }
      else { sortKey = key; ascending = header.classList.contains("text"); }
      for (const other of table.tHead.querySelectorAll("th")) {
        other.classList.remove("sorted", "ascending");
      }
      header.classList.add("sorted");
      header.classList.toggle("ascending", ascending);
      for (const row of ordered("", [])) body.appendChild(row);
    });
  }
  function reveal(row) {
    const chain = [];
    let parent = row.dataset.parent;
    while (parent) {
      const above = body.querySelector('tr[data-name="' + CSS.escape(parent) + '"]');
      if (!above) break;
      chain.unshift(above);
      parent = above.dataset.parent;
    }
    for (const above of chain) setOpen(above, true);
    row.classList.add("flash");
    setTimeout(function () { row.classList.remove("flash"); }, 1600);
  }
  document.addEventListener("click", function (event) {
    const link = event.target.closest('a[href^="#layer-"]');
    if (!link) return;
    const row = document.getElementById(link.getAttribute("href").slice(1));
    if (row && row.tagName === "TR") reveal(row);
  });
})();
"""


def document(title: str, body: str, script: bool = True) -> str:
    """A whole page: `body` is trusted HTML (every figure in it escaped by its writer)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="costlens {escape(__version__)}">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"{body}\n"
        + (f"<script>{SCRIPT}</script>\n" if script else "")
        + "</body>\n</html>\n")


def legend(entries: list[tuple[str, str]]) -> str:
    """Colour swatches with their names: (name, colour) pairs."""
    items = "".join(f'<span><i style="background:{color}"></i>{escape(name)}</span>'
                    for name, color in entries)
    return f'<div class="legend">{items}</div>'


def cards(figures: list[tuple[str, str]]) -> str:
    """Headline figures: (value, what it is) pairs."""
    items = "".join(f'<div class="card"><b>{escape(value)}</b><span>{escape(label)}</span></div>'
                    for value, label in figures)
    return f'<div class="cards">{items}</div>'
