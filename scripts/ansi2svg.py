#!/usr/bin/env python3
"""ANSI terminal capture (`tmux capture-pane -e -p`) -> SVG.

One positioned <text> per run of same-style cells, cut at spaces and around glyphs the
font may lack (so a fallback glyph cannot shift the columns); one <rect> per run of background;
block elements drawn as rectangles so charts are crisp. Font: DejaVu Sans Mono.

SGR understood: 0, 1/22 bold, 2 dim, 3/23 italic, 4/24 underline, 7/27 reverse,
30-37/90-97/38;5;n/38;2;r;g;b/39 and 40-47/100-107/48;5;n/48;2;r;g;b/49.
Other escape sequences are skipped.

usage: ansi2svg.py COLS ROWS < capture.ansi > out.svg
"""

import re
import sys
import unicodedata
from xml.sax.saxutils import escape

FONT_SIZE = 14.0
# DejaVu Sans Mono metrics (units per em 2048): advance 1233, ascent 1901, descent 483.
CELL_W = FONT_SIZE * 1233 / 2048
CELL_H = FONT_SIZE * (1901 + 483) / 2048
BASELINE = FONT_SIZE * 1901 / 2048
PAD = 8.0

DEFAULT_FG = (0xD4, 0xD4, 0xD4)
DEFAULT_BG = (0x16, 0x19, 0x1D)
# The 16 ANSI colours (a dark, readable palette close to VS Code's terminal).
PALETTE16 = [
    (0x16, 0x19, 0x1D), (0xCD, 0x31, 0x31), (0x0D, 0xBC, 0x79), (0xE5, 0xE5, 0x10),
    (0x24, 0x72, 0xC8), (0xBC, 0x3F, 0xBC), (0x11, 0xA8, 0xCD), (0xCC, 0xCC, 0xCC),
    (0x66, 0x66, 0x66), (0xF1, 0x4C, 0x4C), (0x23, 0xD1, 0x8B), (0xF5, 0xF5, 0x43),
    (0x3B, 0x8E, 0xEA), (0xD6, 0x70, 0xD6), (0x29, 0xB8, 0xDB), (0xF2, 0xF2, 0xF2),
]

# Lower block eighths and the full block: fraction of the cell filled from the bottom.
LOWER_BLOCKS = {"▁": 1, "▂": 2, "▃": 3, "▄": 4, "▅": 5, "▆": 6, "▇": 7, "█": 8}


def colour256(n):
    if n < 16:
        return PALETTE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


class Style:
    __slots__ = ("fg", "bg", "bold", "dim", "italic", "underline", "reverse")

    def __init__(self):
        self.fg = None  # None = default
        self.bg = None
        self.bold = self.dim = self.italic = self.underline = self.reverse = False

    def copy(self):
        s = Style()
        for k in self.__slots__:
            setattr(s, k, getattr(self, k))
        return s

    def resolved(self):
        """(fg, bg, bold, dim, italic, underline) after reverse and defaults."""
        fg = self.fg or DEFAULT_FG
        bg = self.bg or DEFAULT_BG
        if self.reverse:
            fg, bg = bg, fg
        return (fg, bg, self.bold, self.dim, self.italic, self.underline)


def apply_sgr(style, params):
    p = [int(x) if x.isdigit() else 0 for x in re.split("[;:]", params)] if params else [0]
    i = 0
    while i < len(p):
        n = p[i]
        if n == 0:
            style = Style()
        elif n == 1:
            style.bold = True
        elif n == 2:
            style.dim = True
        elif n == 3:
            style.italic = True
        elif n == 4:
            style.underline = True
        elif n == 7:
            style.reverse = True
        elif n == 22:
            style.bold = style.dim = False
        elif n == 23:
            style.italic = False
        elif n == 24:
            style.underline = False
        elif n == 27:
            style.reverse = False
        elif 30 <= n <= 37:
            style.fg = PALETTE16[n - 30]
        elif 90 <= n <= 97:
            style.fg = PALETTE16[n - 90 + 8]
        elif n == 39:
            style.fg = None
        elif 40 <= n <= 47:
            style.bg = PALETTE16[n - 40]
        elif 100 <= n <= 107:
            style.bg = PALETTE16[n - 100 + 8]
        elif n == 49:
            style.bg = None
        elif n in (38, 48) and i + 1 < len(p):
            colour = None
            if p[i + 1] == 5 and i + 2 < len(p):
                colour = colour256(p[i + 2] & 0xFF)
                i += 2
            elif p[i + 1] == 2 and i + 4 < len(p):
                colour = tuple(min(255, v) for v in p[i + 2:i + 5])
                i += 4
            if n == 38:
                style.fg = colour
            else:
                style.bg = colour
        i += 1
    return style


ESC_RE = re.compile(r"\x1b(?:\[([0-9;:?]*)([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def parse(text, cols, rows):
    """A rows x cols grid of (char, Style)."""
    blank = Style()
    grid = [[(" ", blank) for _ in range(cols)] for _ in range(rows)]
    style = Style()
    for y, line in enumerate(text.split("\n")[:rows]):
        x = 0
        pos = 0
        while pos < len(line):
            m = ESC_RE.match(line, pos)
            if m:
                if m.group(2) == "m":
                    style = apply_sgr(style.copy(), m.group(1) or "")
                pos = m.end()
                continue
            ch = line[pos]
            pos += 1
            if ch == "\r" or unicodedata.category(ch) in ("Cc", "Mn"):
                continue
            if x < cols:
                grid[y][x] = (ch, style)
            wide = unicodedata.east_asian_width(ch) in ("W", "F")
            x += 2 if wide else 1
            if wide and x - 1 < cols:
                grid[y][x - 1] = ("", style)
    return grid


def hexc(c):
    return "#%02x%02x%02x" % c


def dimmed(c):
    return tuple((v * 2 + b) // 3 for v, b in zip(c, DEFAULT_BG))


def in_font(ch):
    """Characters DejaVu Sans Mono draws itself, at its one advance width."""
    o = ord(ch)
    return (0x20 < o < 0x7F or 0xA0 <= o <= 0x17F or 0x2010 <= o <= 0x2027
            or 0x2190 <= o <= 0x21FF or 0x2500 <= o <= 0x25FF)


def segments(drawn):
    """Groups (column, char) into (first column, text) pieces of adjacent columns; a
    character the font may lack stands alone so a fallback glyph cannot shift others."""
    pieces = []
    for col, ch in drawn:
        if pieces and in_font(ch) and pieces[-1][2] and pieces[-1][0] + len(pieces[-1][1]) == col:
            pieces[-1][1] += ch
        else:
            pieces.append([col, ch, in_font(ch)])
    return [(col, text) for col, text, _ in pieces]


def render(grid, cols, rows):
    width = cols * CELL_W + 2 * PAD
    height = rows * CELL_H + 2 * PAD
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" '
        'viewBox="0 0 %.2f %.2f">' % (width, height, width, height),
        '<rect width="100%%" height="100%%" fill="%s"/>' % hexc(DEFAULT_BG),
        '<g font-family="DejaVu Sans Mono" font-size="%.1f" xml:space="preserve">' % FONT_SIZE,
        # Crisp edges: cell rectangles meet without anti-aliased seams.
        '<g shape-rendering="crispEdges">',
    ]
    # Backgrounds and block elements.
    for y, row in enumerate(grid):
        top = PAD + y * CELL_H
        x = 0
        while x < cols:
            fg, bg = row[x][1].resolved()[:2]
            end = x
            while end < cols and row[end][1].resolved()[1] == bg:
                end += 1
            if bg != DEFAULT_BG:
                out.append('<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"/>' % (
                    PAD + x * CELL_W, top, (end - x) * CELL_W, CELL_H, hexc(bg)))
            x = end
        # Adjacent block cells of one height and colour become one rectangle.
        x = 0
        while x < cols:
            ch, st = row[x]
            eighths = LOWER_BLOCKS.get(ch)
            end = x + 1
            if eighths:
                fg = st.resolved()[0]
                while end < cols and row[end][0] == ch and row[end][1].resolved()[0] == fg:
                    end += 1
                h = CELL_H * eighths / 8
                out.append('<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"/>' % (
                    PAD + x * CELL_W, top + CELL_H - h, (end - x) * CELL_W, h, hexc(fg)))
            x = end
    out.append("</g>")
    # Text runs of one style, cut at spaces so every word starts on its own cell.
    for y, row in enumerate(grid):
        base = PAD + y * CELL_H + BASELINE
        x = 0
        while x < cols:
            key = row[x][1].resolved()
            end = x
            while end < cols and row[end][1].resolved() == key:
                end += 1
            drawn = [(i, row[i][0]) for i in range(x, end)
                     if row[i][0] not in ("", " ") and row[i][0] not in LOWER_BLOCKS]
            fg, _, bold, dim, italic, underline = key
            colour = dimmed(fg) if dim else fg
            attrs = ' fill="%s"' % hexc(colour)
            if bold:
                attrs += ' font-weight="bold"'
            if italic:
                attrs += ' font-style="italic"'
            for start, glyphs in segments(drawn):
                out.append('<text x="%.2f" y="%.2f"%s>%s</text>' % (
                    PAD + start * CELL_W, base, attrs, escape(glyphs)))
            if drawn:
                if underline:
                    out.append('<rect x="%.2f" y="%.2f" width="%.2f" height="1" fill="%s"/>' % (
                        PAD + x * CELL_W, base + 2, (end - x) * CELL_W, hexc(colour)))
            x = end
    out.append("</g></svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: ansi2svg.py COLS ROWS < capture.ansi > out.svg")
    cols, rows = int(sys.argv[1]), int(sys.argv[2])
    text = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    sys.stdout.write(render(parse(text, cols, rows), cols, rows))


if __name__ == "__main__":
    main()
