// Package logo draws the iot-kernel logo: a microcontroller chip seen from
// above, with pins on all four sides and a "μP" mark on its body.
//
// The drawing is described in unit coordinates (0..1 on both axes) as a
// list of shapes with signed distance functions, and rasterised with
// supersampling so that the 32×32 and 64×64 renderings are both crisp and
// anti-aliased. It uses only the standard library.
package logo

import (
	"image"
	"image/color"
	"math"
)

// Colours of the logo.
var (
	pinColor  = color.NRGBA{R: 0xb0, G: 0xbe, B: 0xc5, A: 0xff} // silver pins
	bodyColor = color.NRGBA{R: 0x1f, G: 0x2d, B: 0x3d, A: 0xff} // dark slate body
	rimColor  = color.NRGBA{R: 0x3c, G: 0x55, B: 0x6e, A: 0xff} // lighter bevel
	markColor = color.NRGBA{R: 0xf3, G: 0x77, B: 0x26, A: 0xff} // Jupyter orange
	dotColor  = color.NRGBA{R: 0x8f, G: 0xa4, B: 0xb8, A: 0xff} // pin-1 dimple
)

// shape is a region given by a signed distance function in unit
// coordinates: negative inside, positive outside.
type shape func(x, y float64) float64

type layer struct {
	c     color.NRGBA
	parts []shape
}

// Render draws the logo at size×size pixels on a transparent background.
func Render(size int) *image.NRGBA {
	layers := design()
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const ss = 8 // supersamples per axis
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, a float64 // premultiplied accumulators
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/ss) / float64(size)
					y := (float64(py) + (float64(sy)+0.5)/ss) / float64(size)
					cr, cg, cb, ca := sample(layers, x, y)
					r += cr
					g += cg
					b += cb
					a += ca
				}
			}
			n := float64(ss * ss)
			r, g, b, a = r/n, g/n, b/n, a/n
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{
				R: to8(r / a), G: to8(g / a), B: to8(b / a), A: to8(a),
			})
		}
	}
	return img
}

// sample composites the layers at one point (source-over) and returns a
// premultiplied colour in 0..1.
func sample(layers []layer, x, y float64) (r, g, b, a float64) {
	for _, l := range layers {
		in := false
		for _, s := range l.parts {
			if s(x, y) <= 0 {
				in = true
				break
			}
		}
		if !in {
			continue
		}
		la := float64(l.c.A) / 255
		r = float64(l.c.R)/255*la + r*(1-la)
		g = float64(l.c.G)/255*la + g*(1-la)
		b = float64(l.c.B)/255*la + b*(1-la)
		a = la + a*(1-la)
	}
	return r, g, b, a
}

func to8(v float64) uint8 {
	return uint8(math.Round(math.Max(0, math.Min(1, v)) * 255))
}

// design lists the layers from back to front.
func design() []layer {
	const (
		bodyMin, bodyMax = 0.17, 0.83
		pinsPerSide      = 4
		pinHalfWidth     = 0.036
		pinReach         = 0.05 // distance from the image edge to the pin tip
	)
	var pins []shape
	step := (bodyMax - bodyMin) / (pinsPerSide + 1)
	for i := 1; i <= pinsPerSide; i++ {
		c := bodyMin + step*float64(i)
		pins = append(pins,
			roundRect(c-pinHalfWidth, pinReach, c+pinHalfWidth, 0.5, 0.012),   // top
			roundRect(c-pinHalfWidth, 0.5, c+pinHalfWidth, 1-pinReach, 0.012), // bottom
			roundRect(pinReach, c-pinHalfWidth, 0.5, c+pinHalfWidth, 0.012),   // left
			roundRect(0.5, c-pinHalfWidth, 1-pinReach, c+pinHalfWidth, 0.012), // right
		)
	}
	const sw = 0.0375 // half the stroke width of the mark
	mark := []shape{
		// μ: a long left stem with a descender, a bowl, a short right stem.
		capsule(0.285, 0.40, 0.285, 0.70, sw),
		capsule(0.445, 0.40, 0.445, 0.60, sw),
		arc(0.365, 0.52, 0.08, 0, math.Pi, sw),
		// P: a stem and a bowl.
		capsule(0.545, 0.30, 0.545, 0.60, sw),
		capsule(0.545, 0.30, 0.635, 0.30, sw),
		capsule(0.545, 0.46, 0.635, 0.46, sw),
		arc(0.635, 0.38, 0.08, -math.Pi/2, math.Pi/2, sw),
	}
	return []layer{
		{pinColor, pins},
		{rimColor, []shape{roundRect(bodyMin, bodyMin, bodyMax, bodyMax, 0.07)}},
		{bodyColor, []shape{roundRect(bodyMin+0.025, bodyMin+0.025, bodyMax-0.025, bodyMax-0.025, 0.05)}},
		{dotColor, []shape{circle(bodyMin+0.085, bodyMin+0.085, 0.03)}},
		{markColor, mark},
	}
}

// roundRect is an axis-aligned rectangle with corner radius rad.
func roundRect(x0, y0, x1, y1, rad float64) shape {
	cx, cy := (x0+x1)/2, (y0+y1)/2
	hx, hy := (x1-x0)/2-rad, (y1-y0)/2-rad
	return func(x, y float64) float64 {
		dx := math.Abs(x-cx) - hx
		dy := math.Abs(y-cy) - hy
		outside := math.Hypot(math.Max(dx, 0), math.Max(dy, 0))
		inside := math.Min(math.Max(dx, dy), 0)
		return outside + inside - rad
	}
}

func circle(cx, cy, rad float64) shape {
	return func(x, y float64) float64 { return math.Hypot(x-cx, y-cy) - rad }
}

// capsule is a line segment from (x0,y0) to (x1,y1) stroked with round caps.
func capsule(x0, y0, x1, y1, half float64) shape {
	dx, dy := x1-x0, y1-y0
	l2 := dx*dx + dy*dy
	return func(x, y float64) float64 {
		t := 0.0
		if l2 > 0 {
			t = math.Max(0, math.Min(1, ((x-x0)*dx+(y-y0)*dy)/l2))
		}
		return math.Hypot(x-(x0+t*dx), y-(y0+t*dy)) - half
	}
}

// arc is a stroked circular arc centred at (cx,cy) from angle a0 to a1
// (radians, y pointing down, so 0..π is the lower half).
func arc(cx, cy, rad, a0, a1, half float64) shape {
	return func(x, y float64) float64 {
		ang := math.Atan2(y-cy, x-cx)
		if ang >= a0 && ang <= a1 {
			return math.Abs(math.Hypot(x-cx, y-cy)-rad) - half
		}
		// Outside the arc's angular span: distance to the nearer end cap.
		e0 := math.Hypot(x-(cx+rad*math.Cos(a0)), y-(cy+rad*math.Sin(a0)))
		e1 := math.Hypot(x-(cx+rad*math.Cos(a1)), y-(cy+rad*math.Sin(a1)))
		return math.Min(e0, e1) - half
	}
}
