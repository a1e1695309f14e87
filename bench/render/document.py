"""The one document model of syncbench's reports, and its two renderers: Markdown and self-contained HTML.

Every report (report.md and report.html, scaling.md, faults.md, the gate's summary) is a list of
blocks rendered here, so a table or a bullet list looks the same wherever it appears. Text is
written into Markdown as it is (it may hold Markdown such as `**bold**`) and escaped in HTML.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "Block",
    "Bullets",
    "Heading",
    "Image",
    "Para",
    "Table",
    "markdown_table",
    "render_html",
    "render_markdown",
]

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0 1.5em; }
code { background: #f3f3f3; padding: 0 0.2em; }
li { margin: 0.3em 0; }
"""


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[tuple[str, str], ...]  # (bold lead, text); an empty lead gives a plain item


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]  # per column: right-aligned


@dataclass(frozen=True)
class Image:
    alt: str
    file: str  # a PNG beside the document


Block = Heading | Para | Bullets | Table | Image


# --- Markdown ----------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    """A Markdown table cell: pipes escaped, no line breaks."""
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    """A GitHub-style Markdown table, numbers right-aligned (no tabulate needed)."""
    head = "| " + " | ".join(_md_cell(h) for h in table.headers) + " |"
    rule = "|" + "|".join("---:" if n else "---" for n in table.numeric) + "|"
    body = ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join([head, rule, *body])


def _md_block(block: Block) -> str:
    """One block as Markdown."""
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Para):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- **{lead}** {text}" if lead else f"- {text}" for lead, text in block.items)
    if isinstance(block, Table):
        return markdown_table(block)
    return f"![{block.alt}]({block.file})"


def render_markdown(blocks: Sequence[Block]) -> str:
    """The whole document as Markdown: blocks apart by a blank line, one newline at the end."""
    return "\n\n".join(_md_block(b) for b in blocks) + "\n"


# --- HTML --------------------------------------------------------------------------------------


def _html_block(block: Block, images: Mapping[str, bytes]) -> str:
    """One block as HTML; images become data URIs so the page needs nothing else."""
    esc = html.escape
    if isinstance(block, Heading):
        return f"<h{block.level}>{esc(block.text)}</h{block.level}>"
    if isinstance(block, Para):
        return f"<p>{esc(block.text)}</p>"
    if isinstance(block, Bullets):
        items = "".join(
            f"<li>{f'<strong>{esc(lead)}</strong> ' if lead else ''}{esc(text)}</li>" for lead, text in block.items
        )
        return f"<ul>{items}</ul>"
    if isinstance(block, Table):
        head = "".join(f"<th>{esc(h)}</th>" for h in block.headers)
        body = "".join(
            "<tr>"
            + "".join(
                f'<td class="num">{esc(c)}</td>' if n else f"<td>{esc(c)}</td>"
                for c, n in zip(row, block.numeric, strict=True)
            )
            + "</tr>"
            for row in block.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    data = base64.b64encode(images[block.file]).decode("ascii")
    return f'<figure><img alt="{esc(block.alt)}" src="data:image/png;base64,{data}"></figure>'


def render_html(blocks: Sequence[Block], images: Mapping[str, bytes], title: str) -> str:
    """The whole document as one HTML page with inline CSS and embedded images: no external resources.
    `images` maps each Image block's file name to its PNG bytes."""
    body = "\n".join(_html_block(b, images) for b in blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
