// Package benchplot draws the line charts of BENCHMARKS.md as PNG with the standard library only (image,
// image/png) and a 5x7 bitmap font of its own: axes with ticks and grid lines, one line with square markers per
// series (dashed if asked), a legend and a title.
package benchplot

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"
)

// Point is one measurement.
type Point struct{ X, Y float64 }

// Series is one line of a chart.
type Series struct {
	Name   string
	Color  color.RGBA
	Dashed bool
	Points []Point
}

// Chart is a line chart. X values are drawn on a log scale when LogX (cluster sizes and module counts double or
// more from one point to the next); Y starts at 0.
type Chart struct {
	Title, XLabel, YLabel string
	Width, Height         int // default 800 x 480
	LogX                  bool
	XTicks                []float64 // where x is labelled; default: every point's x
	Series                []Series
}

// Colors of the series, in order; each is far from the grey of the grid and axes.
var (
	Blue   = color.RGBA{0x1f, 0x5f, 0xbf, 0xff}
	Orange = color.RGBA{0xe0, 0x6c, 0x00, 0xff}
	Green  = color.RGBA{0x2a, 0x9d, 0x3a, 0xff}
	Red    = color.RGBA{0xc0, 0x20, 0x30, 0xff}
)

var (
	white = color.RGBA{0xff, 0xff, 0xff, 0xff}
	black = color.RGBA{0x20, 0x20, 0x20, 0xff}
	grid  = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
)

const scale = 2 // a font pixel is 2x2 image pixels

// Layout: margins around the plot area, in pixels.
const left, right, top, bottom = 90, 30, 50, 70

// PNG encodes the chart.
func (c Chart) PNG(w io.Writer) error { return png.Encode(w, c.Draw()) }

// Draw renders the chart.
func (c Chart) Draw() *image.RGBA {
	if c.Width <= 0 {
		c.Width = 800
	}
	if c.Height <= 0 {
		c.Height = 480
	}
	img := image.NewRGBA(image.Rect(0, 0, c.Width, c.Height))
	fill(img, img.Bounds(), white)
	legendH := len(c.Series) * (glyphH*scale + 8)                       // the legend sits between the title and the plot area
	x0, x1, y0, y1 := left, c.Width-right, c.Height-bottom, top+legendH // plot area: x0..x1, y0 (bottom)..y1
	xs := c.XTicks
	minX, maxX, maxY := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range c.Series {
		for _, p := range s.Points {
			minX, maxX, maxY = math.Min(minX, p.X), math.Max(maxX, p.X), math.Max(maxY, p.Y)
			if c.XTicks == nil {
				xs = append(xs, p.X)
			}
		}
	}
	for _, x := range c.XTicks {
		minX, maxX = math.Min(minX, x), math.Max(maxX, x)
	}
	if math.IsInf(minX, 0) {
		minX, maxX = 0, 1
	}
	tx := func(v float64) float64 { return v }
	if c.LogX && minX > 0 {
		tx = math.Log
	}
	span := tx(maxX) - tx(minX)
	px := func(x float64) int {
		if span == 0 {
			return (x0 + x1) / 2
		}
		pad := 0.05 * float64(x1-x0)
		return x0 + int(math.Round(pad+(tx(x)-tx(minX))/span*(float64(x1-x0)-2*pad)))
	}
	step, yTop := niceStep(maxY)
	py := func(y float64) int { return y0 - int(math.Round(y/yTop*float64(y0-y1))) }

	// Grid, y ticks and their labels.
	for v := 0.0; v <= yTop+step/2; v += step {
		y := py(v)
		hline(img, x0, x1, y, grid)
		label := formatNum(v)
		Text(img, x0-8-TextWidth(label), y-glyphH*scale/2, label, black)
	}
	for _, x := range xs {
		p := px(x)
		vline(img, p, y1, y0, grid)
		vline(img, p, y0, y0+5, black)
		label := formatNum(x)
		Text(img, p-TextWidth(label)/2, y0+10, label, black)
	}
	hline(img, x0, x1, y0, black)
	vline(img, x0, y1, y0, black)

	// Series: lines 2 px wide, then 7x7 markers.
	for _, s := range c.Series {
		for i := 1; i < len(s.Points); i++ {
			a, b := s.Points[i-1], s.Points[i]
			line(img, px(a.X), py(a.Y), px(b.X), py(b.Y), s.Color, s.Dashed)
		}
		for _, p := range s.Points {
			fill(img, image.Rect(px(p.X)-3, py(p.Y)-3, px(p.X)+4, py(p.Y)+4), s.Color)
		}
	}

	// Titles and legend.
	Text(img, (c.Width-TextWidth(c.Title))/2, 14, c.Title, black)
	Text(img, (x0+x1-TextWidth(c.XLabel))/2, c.Height-24, c.XLabel, black)
	Text(img, 8, y1-24, c.YLabel, black)
	ly := top - 8
	for _, s := range c.Series {
		line(img, x0+14, ly+glyphH, x0+44, ly+glyphH, s.Color, s.Dashed)
		fill(img, image.Rect(x0+26, ly+glyphH-3, x0+33, ly+glyphH+4), s.Color)
		Text(img, x0+52, ly, s.Name, black)
		ly += glyphH*scale + 8
	}
	return img
}

// niceStep picks a grid step of 1, 2 or 5 times a power of ten giving 4 to 8 lines up to max, and the top of the
// axis (a multiple of the step at or above max).
func niceStep(max float64) (step, top float64) {
	if max <= 0 {
		return 1, 5
	}
	mag := math.Pow(10, math.Floor(math.Log10(max/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		step = m * mag
		if max/step <= 8 {
			break
		}
	}
	top = math.Ceil(max/step) * step
	if top <= max*1.02 { // keep the highest point off the frame
		top += step
	}
	return step, top
}

func formatNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	s := fmt.Sprintf("%.3g", v)
	return s
}

// TextWidth is how wide Text draws s.
func TextWidth(s string) int { return len([]rune(s)) * advance * scale }

// Text draws s with its top-left corner at (x, y).
func Text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range s {
		g := glyph(r)
		for row := range glyphH {
			for col := range glyphW {
				if g[row]&(1<<(glyphW-1-col)) != 0 {
					fill(img, image.Rect(x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale), c)
				}
			}
		}
		x += advance * scale
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func hline(img *image.RGBA, xa, xb, y int, c color.RGBA) { fill(img, image.Rect(xa, y, xb+1, y+1), c) }
func vline(img *image.RGBA, x, ya, yb int, c color.RGBA) { fill(img, image.Rect(x, ya, x+1, yb+1), c) }

// line draws a 2-pixel-wide line from (xa, ya) to (xb, yb); dashed: 8 pixels on, 6 off.
func line(img *image.RGBA, xa, ya, xb, yb int, c color.RGBA, dashed bool) {
	dx, dy := xb-xa, yb-ya
	n := max(abs(dx), abs(dy))
	for i := 0; i <= n; i++ {
		if dashed && i%14 >= 8 {
			continue
		}
		x, y := xa, ya
		if n > 0 {
			x, y = xa+int(math.Round(float64(dx*i)/float64(n))), ya+int(math.Round(float64(dy*i)/float64(n)))
		}
		fill(img, image.Rect(x, y, x+2, y+2), c)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
