// Drawing primitives on Image: pixels, rectangles, anti-aliased lines and dots, bitmap text.
// Everything clips to the image (and to an optional clip rectangle), so callers never crash on
// off-canvas geometry.

/// An integer rectangle: columns x..<x+width, rows y..<y+height.
public struct Rect: Equatable, Sendable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    func intersection(_ o: Rect) -> Rect {
        let x0 = max(x, o.x), y0 = max(y, o.y)
        let x1 = min(x + width, o.x + o.width), y1 = min(y + height, o.y + o.height)
        return Rect(x: x0, y: y0, width: max(0, x1 - x0), height: max(0, y1 - y0))
    }
}

/// Double -> Int for pixel coordinates, saturating far outside any image (and mapping NaN to 0).
@inline(__always) func clampToInt(_ v: Double) -> Int {
    v.isNaN ? 0 : Int(max(-1e9, min(1e9, v)))
}

extension Image {
    var bounds: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    public mutating func setPixel(x: Int, y: Int, color: Color) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = color.r
        pixels[i + 1] = color.g
        pixels[i + 2] = color.b
    }

    /// Mixes `color` over the pixel with opacity `alpha` (0...1).
    public mutating func blendPixel(x: Int, y: Int, color: Color, alpha: Double) {
        guard x >= 0, y >= 0, x < width, y < height, alpha > 0 else { return }
        if alpha >= 1 { setPixel(x: x, y: y, color: color); return }
        let i = (y * width + x) * 3
        @inline(__always) func mix(_ a: UInt8, _ b: UInt8) -> UInt8 {
            UInt8(max(0, min(255, (Double(a) * (1 - alpha) + Double(b) * alpha).rounded())))
        }
        pixels[i] = mix(pixels[i], color.r)
        pixels[i + 1] = mix(pixels[i + 1], color.g)
        pixels[i + 2] = mix(pixels[i + 2], color.b)
    }

    public mutating func fillRect(_ r: Rect, color: Color) {
        let c = r.intersection(bounds)
        guard c.width > 0, c.height > 0 else { return }
        for y in c.y..<(c.y + c.height) {
            for x in c.x..<(c.x + c.width) { setPixel(x: x, y: y, color: color) }
        }
    }

    /// A one-pixel outline just inside `r`.
    public mutating func strokeRect(_ r: Rect, color: Color) {
        guard r.width > 0, r.height > 0 else { return }
        fillRect(Rect(x: r.x, y: r.y, width: r.width, height: 1), color: color)
        fillRect(Rect(x: r.x, y: r.y + r.height - 1, width: r.width, height: 1), color: color)
        fillRect(Rect(x: r.x, y: r.y, width: 1, height: r.height), color: color)
        fillRect(Rect(x: r.x + r.width - 1, y: r.y, width: 1, height: r.height), color: color)
    }

    /// An anti-aliased straight line between pixel-space points (pixel (i, j) covers [i, i+1) x [j, j+1)).
    public mutating func drawLine(from a: (x: Double, y: Double), to b: (x: Double, y: Double),
                                  color: Color, width: Double = 1.5, clip: Rect? = nil) {
        drawPolyline([a, b], color: color, width: width, clip: clip)
    }

    /// An anti-aliased polyline. Coverage is accumulated as a per-pixel maximum and blended once, so
    /// joints and dense, overlapping segments don't darken. Non-finite points are ignored.
    public mutating func drawPolyline(_ points: [(x: Double, y: Double)], color: Color,
                                      width: Double = 1.5, clip: Rect? = nil) {
        let pts = points.filter { $0.x.isFinite && $0.y.isFinite }
        guard !pts.isEmpty, width > 0 else { return }
        let half = width / 2
        let area = clip.map { $0.intersection(bounds) } ?? bounds
        guard area.width > 0, area.height > 0 else { return }
        // Bounding box of the whole polyline, clipped.
        var minX = Double.infinity, minY = Double.infinity, maxX = -Double.infinity, maxY = -Double.infinity
        for p in pts {
            minX = min(minX, p.x); maxX = max(maxX, p.x)
            minY = min(minY, p.y); maxY = max(maxY, p.y)
        }
        let bx0 = max(area.x, clampToInt((minX - half - 1).rounded(.down)))
        let by0 = max(area.y, clampToInt((minY - half - 1).rounded(.down)))
        let bx1 = min(area.x + area.width, clampToInt((maxX + half + 2).rounded(.up)))
        let by1 = min(area.y + area.height, clampToInt((maxY + half + 2).rounded(.up)))
        guard bx1 > bx0, by1 > by0 else { return }
        let bw = bx1 - bx0, bh = by1 - by0
        var cover = [Float](repeating: 0, count: bw * bh)
        // Segments are first clipped to this window (a little larger than the box), so far-away or
        // huge coordinates never reach the per-pixel arithmetic.
        let win = (x0: Double(bx0) - half - 2, y0: Double(by0) - half - 2,
                   x1: Double(bx1) + half + 2, y1: Double(by1) + half + 2)

        func segment(_ p: (x: Double, y: Double), _ q: (x: Double, y: Double)) {
            guard let (a, b) = Image.clipSegment(p, q, win) else { return }
            let x0 = max(bx0, clampToInt((min(a.x, b.x) - half - 1).rounded(.down)))
            let x1 = min(bx1, clampToInt((max(a.x, b.x) + half + 2).rounded(.up)))
            let y0 = max(by0, clampToInt((min(a.y, b.y) - half - 1).rounded(.down)))
            let y1 = min(by1, clampToInt((max(a.y, b.y) + half + 2).rounded(.up)))
            guard x1 > x0, y1 > y0 else { return }
            let dx = b.x - a.x, dy = b.y - a.y
            let len2 = dx * dx + dy * dy
            for py in y0..<y1 {
                let cy = Double(py) + 0.5
                for px in x0..<x1 {
                    let cx = Double(px) + 0.5
                    var t = len2 > 0 ? ((cx - a.x) * dx + (cy - a.y) * dy) / len2 : 0
                    t = max(0, min(1, t))
                    let ex = a.x + t * dx - cx, ey = a.y + t * dy - cy
                    let d = (ex * ex + ey * ey).squareRoot()
                    let c = Float(max(0, min(1, half + 0.5 - d)))
                    let k = (py - by0) * bw + (px - bx0)
                    if c > cover[k] { cover[k] = c }
                }
            }
        }

        if pts.count == 1 {
            segment(pts[0], pts[0])
        } else {
            for i in 1..<pts.count { segment(pts[i - 1], pts[i]) }
        }
        for py in by0..<by1 {
            for px in bx0..<bx1 {
                let c = cover[(py - by0) * bw + (px - bx0)]
                if c > 0 { blendPixel(x: px, y: py, color: color, alpha: Double(c)) }
            }
        }
    }

    /// Liang-Barsky: the part of segment p-q inside the window, or nil when none is.
    static func clipSegment(_ p: (x: Double, y: Double), _ q: (x: Double, y: Double),
                            _ w: (x0: Double, y0: Double, x1: Double, y1: Double))
        -> ((x: Double, y: Double), (x: Double, y: Double))? {
        // Work on halves so q - p cannot overflow for coordinates near the Double range limits.
        let dx = q.x * 0.5 - p.x * 0.5, dy = q.y * 0.5 - p.y * 0.5
        var t0 = 0.0, t1 = 1.0
        for (den, num) in [(-dx, p.x * 0.5 - w.x0 * 0.5), (dx, w.x1 * 0.5 - p.x * 0.5),
                           (-dy, p.y * 0.5 - w.y0 * 0.5), (dy, w.y1 * 0.5 - p.y * 0.5)] {
            if den == 0 {
                if num < 0 { return nil }
            } else {
                let r = num / den
                if den < 0 { t0 = max(t0, r) } else { t1 = min(t1, r) }
            }
        }
        guard t0 <= t1 else { return nil }
        let a = (x: p.x + 2 * t0 * dx, y: p.y + 2 * t0 * dy)
        let b = (x: p.x + 2 * t1 * dx, y: p.y + 2 * t1 * dy)
        guard a.x.isFinite, a.y.isFinite, b.x.isFinite, b.y.isFinite else { return nil }
        return (a, b)
    }

    /// An anti-aliased filled disc centred at a pixel-space point.
    public mutating func fillCircle(center: (x: Double, y: Double), radius: Double, color: Color, clip: Rect? = nil) {
        guard center.x.isFinite, center.y.isFinite, radius > 0 else { return }
        drawPolyline([center], color: color, width: radius * 2, clip: clip)
    }

    /// Width in pixels of `text` drawn at `scale`.
    public static func textWidth(_ text: String, scale: Int = 1) -> Int {
        let n = text.count
        return n == 0 ? 0 : (n * Font5x7.advance - 1) * max(1, scale)
    }

    /// Height of capitals at `scale` (descenders add two more rows per scale step).
    public static func textHeight(scale: Int = 1) -> Int { Font5x7.glyphHeight * max(1, scale) }

    /// Draws `text` with its top-left corner at (x, y) using the built-in 5x7 font, each font pixel
    /// drawn as a scale x scale block. Non-ASCII characters draw as '?'.
    public mutating func drawText(_ text: String, x: Int, y: Int, scale: Int = 1, color: Color, clip: Rect? = nil) {
        let s = max(1, scale)
        let area = clip.map { $0.intersection(bounds) } ?? bounds
        var cx = x
        for ch in text {
            let rows = Font5x7.rows(for: ch)
            for (ry, bits) in rows.enumerated() where bits != 0 {
                for rx in 0..<Font5x7.glyphWidth where (bits >> UInt8(Font5x7.glyphWidth - 1 - rx)) & 1 != 0 {
                    fillRect(Rect(x: cx + rx * s, y: y + ry * s, width: s, height: s).intersection(area), color: color)
                }
            }
            cx += Font5x7.advance * s
            if cx >= area.x + area.width { break }
        }
    }

    /// Draws `text` rotated 90° counter-clockwise (reading bottom to top). (x, y) is the top-left of
    /// the rotated block, which is `cellHeight * scale` wide and `textWidth` tall.
    public mutating func drawTextVertical(_ text: String, x: Int, y: Int, scale: Int = 1, color: Color,
                                          clip: Rect? = nil) {
        let s = max(1, scale)
        let area = clip.map { $0.intersection(bounds) } ?? bounds
        let w = Image.textWidth(text, scale: s)
        var hx = 0  // horizontal offset of the glyph in the unrotated layout
        for ch in text {
            let rows = Font5x7.rows(for: ch)
            for (ry, bits) in rows.enumerated() where bits != 0 {
                for rx in 0..<Font5x7.glyphWidth where (bits >> UInt8(Font5x7.glyphWidth - 1 - rx)) & 1 != 0 {
                    // Unrotated pixel block (hx + rx*s, ry*s) -> rotated (ry*s, w - (hx + rx*s) - s).
                    let r = Rect(x: x + ry * s, y: y + w - (hx + rx * s) - s, width: s, height: s)
                    fillRect(r.intersection(area), color: color)
                }
            }
            hx += Font5x7.advance * s
        }
    }
}
