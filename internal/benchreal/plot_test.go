package benchreal

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strconv"
)

// Colours of the chart.
var (
	white   = color.RGBA{255, 255, 255, 255}
	black   = color.RGBA{0, 0, 0, 255}
	grid    = color.RGBA{225, 225, 225, 255}
	rawC    = color.RGBA{90, 120, 180, 255} // Pools=raw
	replicC = color.RGBA{230, 140, 40, 255} // Pools=replica
)

// panel is one of the chart's bar charts: its title lines, the figure it
// shows and how a bar's value is written above it.
type panel struct {
	title  []string
	metric func(result) float64
	format func(float64) string
}

// writePNG draws BenchmarkClients64's figures as two bar charts side by
// side, statements per second on the left and p99 latency in milliseconds
// on the right; each has a group of two bars per load (read only, then
// 90/10 with sessions): raw pools (blue) and replica.DB (orange), each with
// its value written above it. Each panel's scale starts at zero and tops at
// its largest bar; the grid lines are quarters of it. A legend heads the
// chart and a caption under it names the setup.
func (s *resultSet) writePNG(path string) error {
	const w, h = 800, 430
	const pad, panelW = 40, 340 // left margin of each panel, and its width
	const top, base = 110, 340  // y of the scale's top and of the x axis
	const barW, barGap, groupGap = 64, 12, 20
	const sc, line = 2, 18 // the text's scale, and its line height
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)

	// Legend, centred at the top.
	legend := []struct {
		label string
		c     color.Color
	}{{"raw pools", rawC}, {"replica.DB", replicC}}
	legendW := -30 // each entry: a swatch, 6 pixels, its label and 30 pixels
	for _, l := range legend {
		legendW += 20 + textWidth(l.label, sc) + 30
	}
	x := (w - legendW) / 2
	for _, l := range legend {
		fill(img, x, 12, x+14, 26, l.c)
		drawText(img, x+20, 12, sc, l.label, black)
		x += 20 + textWidth(l.label, sc) + 30
	}

	panels := []panel{
		{[]string{"statements per second", "(higher is better)"},
			func(r result) float64 { return r.PerSec }, thousands},
		{[]string{"p99 latency, ms", "(lower is better)"},
			func(r result) float64 { return r.P99.Seconds() * 1000 },
			func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }},
	}
	loads := []struct {
		name  string
		label []string
	}{{"read", []string{"read only"}}, {"90-10", []string{"90/10", "with sessions"}}}
	for p, pn := range panels {
		x0 := pad + p*(panelW+pad) // the panel's left edge
		for i, t := range pn.title {
			drawText(img, x0+(panelW-textWidth(t, sc))/2, 44+i*line, sc, t, black)
		}
		var most float64
		for _, load := range loads {
			for _, pools := range []string{"raw", "replica"} {
				if r, _, ok := s.get(pools, load.name); ok {
					most = max(most, pn.metric(r))
				}
			}
		}
		for q := 1; q <= 4; q++ {
			y := base - q*(base-top)/4
			fill(img, x0, y, x0+panelW, y+1, grid)
			fill(img, x0-4, y, x0, y+1, black) // tick
		}
		for g, load := range loads {
			gx := x0 + groupGap + g*(2*barW+barGap+groupGap) // the group's left edge
			for k, pools := range []string{"raw", "replica"} {
				r, _, ok := s.get(pools, load.name)
				if !ok || most <= 0 {
					continue
				}
				c := rawC
				if pools == "replica" {
					c = replicC
				}
				bx := gx + k*(barW+barGap)
				v := pn.metric(r)
				y := base - int(v/most*float64(base-top))
				fill(img, bx, y, bx+barW, base, c)
				label, vs := pn.format(v), sc
				if textWidth(label, vs) > barW+barGap-4 {
					vs = 1 // too wide to sit beside its neighbour's at full size
				}
				drawText(img, bx+(barW-textWidth(label, vs))/2, y-4-7*vs, vs, label, black)
			}
			cx := gx + barW + barGap/2 // the group's centre
			for i, l := range load.label {
				drawText(img, cx-textWidth(l, sc)/2, base+10+i*line, sc, l, black)
			}
		}
		fill(img, x0, top, x0+1, base+1, black)       // y axis
		fill(img, x0, base, x0+panelW, base+1, black) // x axis
	}

	caption := fmt.Sprintf("%d clients, PostgreSQL 15, primary + 2 replicas", clients)
	drawText(img, (w-textWidth(caption, sc))/2, h-26, sc, caption, black)

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// thousands writes v rounded to a whole number, with commas between groups
// of three digits: 18,244.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// fill paints the rectangle [x0, x1) × [y0, y1) of img with c.
func fill(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	draw.Draw(img, image.Rect(x0, y0, x1, y1), &image.Uniform{c}, image.Point{}, draw.Src)
}
