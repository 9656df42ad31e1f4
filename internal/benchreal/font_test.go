package benchreal

import (
	"image"
	"image/color"
	"strings"
	"testing"
	"unicode/utf8"
)

// glyphs is a 5×7 bitmap font with a descender row, covering just the
// characters the chart writes. Each glyph is eight rows of five pixels,
// top to bottom, '#' on and '.' off; rows 0 to 6 stand on the baseline and
// row 7 holds descenders.
var glyphs = map[rune]string{
	' ': "..... ..... ..... ..... ..... ..... ..... .....",
	'(': "...#. ..#.. .#... .#... .#... ..#.. ...#. .....",
	')': ".#... ..#.. ...#. ...#. ...#. ..#.. .#... .....",
	'+': "..... ..#.. ..#.. ##### ..#.. ..#.. ..... .....",
	',': "..... ..... ..... ..... ..... .##.. ..#.. .#...",
	'.': "..... ..... ..... ..... ..... .##.. .##.. .....",
	'/': "....# ...#. ...#. ..#.. .#... .#... #.... .....",
	'0': ".###. #...# #..## #.#.# ##..# #...# .###. .....",
	'1': "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###. .....",
	'2': ".###. #...# ....# ...#. ..#.. .#... ##### .....",
	'3': "##### ...#. ..#.. ...#. ....# #...# .###. .....",
	'4': "...#. ..##. .#.#. #..#. ##### ...#. ...#. .....",
	'5': "##### #.... ####. ....# ....# #...# .###. .....",
	'6': "..##. .#... #.... ####. #...# #...# .###. .....",
	'7': "##### ....# ...#. ..#.. .#... .#... .#... .....",
	'8': ".###. #...# #...# .###. #...# #...# .###. .....",
	'9': ".###. #...# #...# .#### ....# ...#. .##.. .....",
	'B': "####. #...# #...# ####. #...# #...# ####. .....",
	'D': "###.. #..#. #...# #...# #...# #..#. ###.. .....",
	'L': "#.... #.... #.... #.... #.... #.... ##### .....",
	'P': "####. #...# #...# ####. #.... #.... #.... .....",
	'Q': ".###. #...# #...# #...# #.#.# #..#. .##.# .....",
	'S': ".#### #.... #.... .###. ....# ....# ####. .....",
	'a': "..... ..... .###. ....# .#### #...# .#### .....",
	'b': "#.... #.... #.##. ##..# #...# #...# ####. .....",
	'c': "..... ..... .###. #.... #.... #...# .###. .....",
	'd': "....# ....# .##.# #..## #...# #...# .#### .....",
	'e': "..... ..... .###. #...# ##### #.... .###. .....",
	'g': "..... ..... .#### #...# #...# .#### ....# .###.",
	'h': "#.... #.... #.##. ##..# #...# #...# #...# .....",
	'i': "..#.. ..... .##.. ..#.. ..#.. ..#.. .###. .....",
	'l': ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###. .....",
	'm': "..... ..... ##.#. #.#.# #.#.# #...# #...# .....",
	'n': "..... ..... #.##. ##..# #...# #...# #...# .....",
	'o': "..... ..... .###. #...# #...# #...# .###. .....",
	'p': "..... ..... ####. #...# #...# ####. #.... #....",
	'r': "..... ..... #.##. ##..# #.... #.... #.... .....",
	's': "..... ..... .###. #.... .###. ....# ####. .....",
	't': ".#... .#... ###.. .#... .#... .#..# ..##. .....",
	'w': "..... ..... #...# #...# #.#.# #.#.# .#.#. .....",
	'y': "..... ..... #...# #...# #...# .#### ....# .###.",
}

// noGlyph is drawn for a character the font lacks, so that a missing
// glyph shows as a box rather than as a silent gap.
const noGlyph = "##### #...# #...# #...# #...# #...# ##### ....."

// textWidth returns how many pixels wide drawText draws s at scale.
func textWidth(s string, scale int) int {
	return (6*utf8.RuneCountInString(s) - 1) * scale
}

// drawText writes s on img in c with its top left corner at (x, y); every
// pixel of the font is a scale×scale square and characters are one font
// pixel apart. A line is 8×scale pixels high, descenders included.
func drawText(img *image.RGBA, x, y, scale int, s string, c color.Color) {
	for _, r := range s {
		g, ok := glyphs[r]
		if !ok {
			g = noGlyph
		}
		for row, bits := range strings.Fields(g) {
			for col, b := range bits {
				if b == '#' {
					px, py := x+col*scale, y+row*scale
					fill(img, px, py, px+scale, py+scale, c)
				}
			}
		}
		x += 6 * scale
	}
}

// TestGlyphs checks that every glyph is eight rows of five pixels, so a
// typing slip in the font cannot draw a torn character.
func TestGlyphs(t *testing.T) {
	for r, g := range glyphs {
		rows := strings.Fields(g)
		if len(rows) != 8 {
			t.Errorf("glyph %q: %d rows, want 8", r, len(rows))
		}
		for _, row := range rows {
			if len(row) != 5 || strings.Trim(row, "#.") != "" {
				t.Errorf("glyph %q: row %q is not five of '#' and '.'", r, row)
			}
		}
	}
}
