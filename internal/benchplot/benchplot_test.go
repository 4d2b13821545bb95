package benchplot

import (
	"bytes"
	"image/color"
	"image/png"
	"math"
	"os"
	"testing"
)

func TestChartPNG(t *testing.T) {
	c := Chart{
		Title: "deploy to all confirmed", XLabel: "servers", YLabel: "ms", LogX: true, Width: 640, Height: 400,
		XTicks: []float64{2, 4, 8, 16},
		Series: []Series{
			{Name: "sqlite p50", Color: Blue, Points: []Point{{2, 3.1}, {4, 4.2}, {8, 7.5}, {16, 14}}},
			{Name: "postgresql p99", Color: Orange, Dashed: true, Points: []Point{{2, 9}, {4, 12}, {8, 20}, {16, 41.5}}},
		},
	}
	var buf bytes.Buffer
	if err := c.PNG(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 400 {
		t.Fatalf("size %v, want 640x400", b)
	}
	count := map[color.RGBA]int{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			r, g, b, a := img.At(x, y).RGBA()
			count[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}]++
		}
	}
	// Each series draws 4 markers of 7x7 and lines between them: well over 4*49 pixels of its colour.
	for _, s := range c.Series {
		if count[s.Color] < 4*49 {
			t.Errorf("%s: %d pixels of its colour", s.Name, count[s.Color])
		}
	}
	if count[black] < 500 {
		t.Errorf("axes and text: %d black pixels", count[black])
	}
	if count[white] < 640*400/2 {
		t.Errorf("background: %d white pixels", count[white])
	}
	// The highest point is at the top of its range, drawn inside the plot area, with its marker's colour.
	d := c.Draw()
	found := false
	for y := 0; y < 400-bottom; y++ {
		if d.RGBAAt(640-right-int(0.05*float64(640-right-left)), y) == Orange {
			found = true
			break
		}
	}
	if !found {
		t.Error("no marker of the last postgresql point at the right end of the x axis")
	}
	if os.Getenv("BENCHPLOT_KEEP") != "" {
		f, _ := os.Create(os.Getenv("BENCHPLOT_KEEP"))
		c.PNG(f)
		f.Close()
	}
}

func TestNiceStep(t *testing.T) {
	for _, tc := range []struct{ max, step float64 }{{14, 2}, {41.5, 10}, {0.9, 0.2}, {5000, 1000}} {
		step, top := niceStep(tc.max)
		if math.Abs(step-tc.step) > 1e-9 || top <= tc.max || top > tc.max+step*1.05 {
			t.Errorf("niceStep(%v) = %v, %v; want step %v and the top one step or less above", tc.max, step, top, tc.step)
		}
	}
}

func TestGlyphsAreFiveWide(t *testing.T) {
	for r, g := range glyphs {
		for _, row := range g {
			if row >= 1<<glyphW {
				t.Errorf("%q: row %#x is wider than %d", r, row, glyphW)
			}
		}
	}
}
