package benchreal

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
)

// Colours of the chart.
var (
	white   = color.RGBA{255, 255, 255, 255}
	black   = color.RGBA{0, 0, 0, 255}
	grid    = color.RGBA{225, 225, 225, 255}
	rawC    = color.RGBA{90, 120, 180, 255} // Pools=raw
	replicC = color.RGBA{230, 140, 40, 255} // Pools=replica
)

// writePNG draws BenchmarkClients64's figures as two bar charts side by
// side, statements per second on the left and p99 latency on the right;
// each has a group of two bars per load (read, then 90-10): raw (blue) and
// replica (orange). Each panel's scale starts at zero and tops at its
// largest bar; the grid lines are quarters of it. There is no text: the
// table printed with it has the numbers.
func (s *resultSet) writePNG(path string) error {
	const h, panelW, pad = 320, 300, 30
	const w = 2*panelW + 3*pad
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)
	metrics := []func(result) float64{
		func(r result) float64 { return r.PerSec },
		func(r result) float64 { return float64(r.P99.Microseconds()) },
	}
	for p, metric := range metrics {
		x0, y0 := pad+p*(panelW+pad), h-pad // the panel's origin
		top := pad
		var most float64
		for _, load := range []string{"read", "90-10"} {
			for _, pools := range []string{"raw", "replica"} {
				if r, ok := s.get(pools, load); ok {
					most = max(most, metric(r))
				}
			}
		}
		for q := 1; q <= 4; q++ {
			y := y0 - q*(y0-top)/4
			fill(img, x0, y, x0+panelW, y+1, grid)
		}
		if most > 0 {
			const barW = 50
			for g, load := range []string{"read", "90-10"} {
				for k, pools := range []string{"raw", "replica"} {
					r, ok := s.get(pools, load)
					if !ok {
						continue
					}
					c := rawC
					if pools == "replica" {
						c = replicC
					}
					x := x0 + 25 + g*(2*barW+40) + k*(barW+4)
					y := y0 - int(metric(r)/most*float64(y0-top))
					fill(img, x, y, x+barW, y0, c)
				}
			}
		}
		fill(img, x0, top, x0+1, y0+1, black)     // y axis
		fill(img, x0, y0, x0+panelW, y0+1, black) // x axis
		for q := 1; q <= 4; q++ {                 // y ticks
			y := y0 - q*(y0-top)/4
			fill(img, x0-4, y, x0, y+1, black)
		}
	}
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

// fill paints the rectangle [x0, x1) × [y0, y1) of img with c.
func fill(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	draw.Draw(img, image.Rect(x0, y0, x1, y1), &image.Uniform{c}, image.Point{}, draw.Src)
}
