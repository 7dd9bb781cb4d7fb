// Line and bar charts for report cards, rendered onto an Image with the built-in font.

import Foundation

/// One named line of a line chart.
public struct Series: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]

    public init(name: String, points: [(x: Double, y: Double)]) {
        self.name = name
        self.points = points
    }

    /// Points (0, y[0]), (1, y[1]), ...
    public init(name: String, y: [Double]) {
        self.init(name: name, points: y.enumerated().map { (x: Double($0.offset), y: $0.element) })
    }

    /// Points (x[i], y[i]) for the common prefix of both arrays.
    public init(name: String, x: [Double], y: [Double]) {
        self.init(name: name, points: zip(x, y).map { (x: $0, y: $1) })
    }
}

/// Where a chart's data lives on the canvas. The frame occupies columns `left` and `right` and rows
/// `top` and `bottom`; `xMin`/`xMax` map to the centres of the left/right frame columns and
/// `yMin`/`yMax` to the centres of the bottom/top frame rows.
public struct PlotArea: Sendable {
    public let left: Int
    public let top: Int
    public let right: Int
    public let bottom: Int
    public let xMin: Double
    public let xMax: Double
    public let yMin: Double
    public let yMax: Double
    public let xTicks: [Double]
    public let yTicks: [Double]

    /// Continuous pixel-space position of a data point; the pixel that contains it is
    /// `(Int(floor(p.x)), Int(floor(p.y)))`.
    public func pixel(x: Double, y: Double) -> (x: Double, y: Double) {
        (x: Double(left) + 0.5 + PlotArea.fraction(x, xMin, xMax) * Double(right - left),
         y: Double(bottom) + 0.5 - PlotArea.fraction(y, yMin, yMax) * Double(bottom - top))
    }

    /// The frame rectangle (inclusive of the frame lines).
    public var frame: Rect { Rect(x: left, y: top, width: right - left + 1, height: bottom - top + 1) }

    /// (v - lo) / (hi - lo), computed on halves so spans near Double.greatestFiniteMagnitude don't overflow.
    static func fraction(_ v: Double, _ lo: Double, _ hi: Double) -> Double {
        let span = hi * 0.5 - lo * 0.5
        return span > 0 ? (v * 0.5 - lo * 0.5) / span : 0.5
    }
}

public enum Chart {
    /// Series and bar colours, in order; they cycle when there are more series than colours.
    public static let palette: [Color] = [
        Color(0, 114, 189),    // blue
        Color(217, 83, 25),    // vermilion
        Color(44, 160, 44),    // green
        Color(126, 47, 142),   // purple
        Color(222, 165, 20),   // amber
        Color(60, 180, 225),   // sky
        Color(162, 20, 47),    // crimson
        Color(105, 105, 105),  // grey
        Color(20, 170, 150),   // teal
        Color(225, 95, 175),   // pink
    ]

    static let textColor = Color(34, 34, 34)
    static let mutedColor = Color(120, 120, 120)
    static let axisColor = Color(80, 80, 80)
    static let gridColor = Color(228, 228, 228)
    static let margin = 12

    // MARK: Ticks

    /// About `count` "nice" ticks (steps of 1, 2 or 5 x 10^k) spanning [min, max]; the first and last
    /// ticks enclose the data. Degenerate or non-finite input yields a small sensible set.
    public static func niceTicks(min minValue: Double, max maxValue: Double, count: Int = 5) -> [Double] {
        guard minValue.isFinite, maxValue.isFinite else { return [0, 1] }
        var lo = Swift.min(minValue, maxValue), hi = Swift.max(minValue, maxValue)
        if hi == lo {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            lo -= pad
            hi += pad
        }
        let span = hi - lo
        guard span.isFinite, span > 0 else { return lo < 0 && hi > 0 ? [lo, 0, hi] : [lo, hi] }
        let range = niceNumber(span, round: false)
        let step = niceNumber(range / Double(Swift.max(1, count - 1)), round: true)
        guard step > 0, step.isFinite else { return [lo, hi] }
        let first = (lo / step).rounded(.down) * step
        let last = (hi / step).rounded(.up) * step
        var ticks = [Double]()
        var k = 0.0
        while ticks.count < 50 {
            var v = first + k * step
            if v > last + step * 1e-6 { break }
            if abs(v) < step * 1e-9 { v = 0 }
            ticks.append(v)
            k += 1
        }
        if ticks.count < 2 { ticks = [lo, hi] }  // precision exhausted (huge offset, tiny span)
        return ticks
    }

    static func niceNumber(_ x: Double, round: Bool) -> Double {
        let e = log10(x).rounded(.down)
        let p = pow(10, e)
        let f = x / p
        let nf: Double
        if round {
            nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10
        } else {
            nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10
        }
        return nf * p
    }

    /// A tick label with just enough precision for the tick spacing `step`: fixed-point for ordinary
    /// magnitudes ("0.25", "1500"), compact scientific otherwise ("1.5e-3", "2e6").
    public static func formatTick(_ v: Double, step: Double) -> String {
        guard v.isFinite else { return v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf") }
        let step = step.isFinite && step > 0 ? step : Swift.max(abs(v), 1)
        if v == 0 || abs(v) < step * 1e-9 { return "0" }
        if step >= 1e-3 && abs(v) < 1e6 {
            let decimals = Swift.max(0, Int((-log10(step) - 1e-9).rounded(.up)))
            return String(format: "%.\(decimals)f", v)
        }
        let e = Int(log10(abs(v)).rounded(.down))
        let se = Int(log10(step).rounded(.down))
        return scientific(v, digits: Swift.min(4, Swift.max(0, e - se)))
    }

    /// "%.{digits}e" with the exponent compacted: 1.5e-03 -> 1.5e-3, 2e+06 -> 2e6.
    static func scientific(_ v: Double, digits: Int) -> String {
        let s = String(format: "%.\(digits)e", v)
        guard let ei = s.firstIndex(where: { $0 == "e" || $0 == "E" }) else { return s }
        let mantissa = s[..<ei]
        var exp = String(s[s.index(after: ei)...])
        var sign = ""
        if exp.hasPrefix("-") { sign = "-"; exp.removeFirst() } else if exp.hasPrefix("+") { exp.removeFirst() }
        while exp.count > 1 && exp.hasPrefix("0") { exp.removeFirst() }
        return "\(mantissa)e\(sign)\(exp)"
    }

    /// Labels for a whole axis; scientific labels share one mantissa precision ("5.0e-4", "1.0e-3", "1.5e-3").
    public static func tickLabels(_ ticks: [Double]) -> [String] {
        let step = ticks.count >= 2 ? abs(ticks[1] - ticks[0]) : abs(ticks.first ?? 1)
        let plain = ticks.map { formatTick($0, step: step) }
        guard plain.contains(where: { $0.contains("e") }) else { return plain }
        let digits = plain.map { label -> Int in
            guard let e = label.firstIndex(of: "e"), let dot = label.firstIndex(of: ".") else { return 0 }
            return label.distance(from: dot, to: e) - 1
        }.max() ?? 0
        return zip(ticks, plain).map { $1 == "0" || !$0.isFinite ? $1 : scientific($0, digits: digits) }
    }

    /// Text scale for a canvas: 1 up to roughly 720 x 420, larger for bigger canvases.
    static func textScale(width: Int, height: Int) -> Int {
        Swift.max(1, Swift.min(width / 640, height / 380))
    }

    // MARK: Line chart

    static func finitePoints(_ series: [Series]) -> [(x: Double, y: Double)] {
        series.flatMap { $0.points.filter { $0.x.isFinite && $0.y.isFinite } }
    }

    /// The plot area `line(...)` uses for these arguments (exposed so callers and tests can map data to
    /// pixels). With no finite points the ranges are 0...1 and there are no ticks.
    public static func lineLayout(title: String, xLabel: String, yLabel: String, series: [Series],
                                  width: Int = 720, height: Int = 420) -> PlotArea {
        let w = Swift.max(1, width), h = Swift.max(1, height)
        let s = textScale(width: w, height: h)
        let pts = finitePoints(series)
        var xTicks = [Double](), yTicks = [Double]()
        var xr = (0.0, 1.0), yr = (0.0, 1.0)
        if !pts.isEmpty {
            xTicks = niceTicks(min: pts.map { $0.x }.min()!, max: pts.map { $0.x }.max()!)
            yTicks = niceTicks(min: pts.map { $0.y }.min()!, max: pts.map { $0.y }.max()!)
            xr = (xTicks.first!, xTicks.last!)
            yr = (yTicks.first!, yTicks.last!)
        }
        let cell = Font5x7.cellHeight * s
        let yTickW = tickLabels(yTicks).map { Image.textWidth($0, scale: s) }.max() ?? 0
        let lastXW = tickLabels(xTicks).last.map { Image.textWidth($0, scale: s) } ?? 0
        let titleBand = title.isEmpty ? 0 : Font5x7.cellHeight * 2 * s + 6
        let yLabelBand = yLabel.isEmpty ? 0 : cell + 6
        let xLabelBand = xLabel.isEmpty ? 0 : cell + 4
        let top = margin + titleBand + 4 * s
        let left = margin + yLabelBand + yTickW + 4 + 5
        var right = w - Swift.max(margin + 4, lastXW / 2 + margin)
        var bottom = h - margin - xLabelBand - (5 + 4 + cell)
        if right <= left { right = left + 1 }
        if bottom <= top { bottom = top + 1 }
        return PlotArea(left: left, top: top, right: right, bottom: bottom,
                        xMin: xr.0, xMax: xr.1, yMin: yr.0, yMax: yr.1, xTicks: xTicks, yTicks: yTicks)
    }

    /// A line chart: nice ticks with labels, grid, one colour per series, a legend placed in the corner
    /// that hides the least data, and dots on sparse series. Non-finite points are skipped (the line
    /// breaks there); with no finite points at all the plot says "no data".
    public static func line(title: String, xLabel: String, yLabel: String, series: [Series],
                            width: Int = 720, height: Int = 420) -> Image {
        var img = Image(width: width, height: height)
        let s = textScale(width: img.width, height: img.height)
        let area = lineLayout(title: title, xLabel: xLabel, yLabel: yLabel, series: series,
                              width: img.width, height: img.height)
        drawAxes(&img, area, s: s, xTickLabels: true)
        drawTitles(&img, area, title: title, xLabel: xLabel, yLabel: yLabel, s: s)
        if finitePoints(series).isEmpty {
            drawNoData(&img, area, s: s)
            return img
        }

        let clip = Rect(x: area.left - 1, y: area.top - 1, width: area.right - area.left + 3,
                        height: area.bottom - area.top + 3)
        let lineWidth = 2.0 * Double(s)
        var samples = [(x: Double, y: Double)]()  // pixel positions used to place the legend
        for (i, ser) in series.enumerated() {
            let color = palette[i % palette.count]
            // Split into runs of consecutive finite points.
            var runs = [[(x: Double, y: Double)]]()
            var cur = [(x: Double, y: Double)]()
            for p in ser.points {
                if p.x.isFinite && p.y.isFinite {
                    cur.append(area.pixel(x: p.x, y: p.y))
                } else if !cur.isEmpty {
                    runs.append(cur)
                    cur = []
                }
            }
            if !cur.isEmpty { runs.append(cur) }
            let total = runs.reduce(0) { $0 + $1.count }
            let dotRadius = 2.5 * Double(s) + 0.5
            for run in runs {
                img.drawPolyline(run, color: color, width: lineWidth, clip: clip)
                if run.count == 1 || total <= 60 {
                    for p in run { img.fillCircle(center: p, radius: dotRadius, color: color, clip: clip) }
                }
                samples.append(contentsOf: run)
                if run.count > 1 {
                    for k in 1..<run.count {
                        let a = run[k - 1], b = run[k]
                        let len = ((b.x - a.x) * (b.x - a.x) + (b.y - a.y) * (b.y - a.y)).squareRoot()
                        let n = Swift.min(100, Int(len / 4))
                        if n > 0 {
                            for j in 1...n {
                                let t = Double(j) / Double(n + 1)
                                samples.append((x: a.x + t * (b.x - a.x), y: a.y + t * (b.y - a.y)))
                            }
                        }
                    }
                }
            }
        }
        drawLegend(&img, area, series: series, samples: samples, s: s)
        return img
    }

    static func drawAxes(_ img: inout Image, _ a: PlotArea, s: Int, xTickLabels: Bool) {
        // Grid.
        for t in a.yTicks {
            let y = clampToInt(a.pixel(x: a.xMin, y: t).y.rounded(.down))
            if y > a.top && y < a.bottom {
                img.fillRect(Rect(x: a.left + 1, y: y, width: a.right - a.left - 1, height: 1), color: gridColor)
            }
        }
        if xTickLabels {
            for t in a.xTicks {
                let x = clampToInt(a.pixel(x: t, y: a.yMin).x.rounded(.down))
                if x > a.left && x < a.right {
                    img.fillRect(Rect(x: x, y: a.top + 1, width: 1, height: a.bottom - a.top - 1), color: gridColor)
                }
            }
        }
        img.strokeRect(a.frame, color: axisColor)
        // Ticks and labels.
        let cap = Font5x7.glyphHeight * s
        let yl = tickLabels(a.yTicks)
        for (t, label) in zip(a.yTicks, yl) {
            let y = clampToInt(a.pixel(x: a.xMin, y: t).y.rounded(.down))
            img.fillRect(Rect(x: a.left - 5, y: y, width: 5, height: 1), color: axisColor)
            let tw = Image.textWidth(label, scale: s)
            img.drawText(label, x: a.left - 5 - 4 - tw, y: y - cap / 2, scale: s, color: textColor)
        }
        guard xTickLabels else { return }
        let xl = tickLabels(a.xTicks)
        for (t, label) in zip(a.xTicks, xl) {
            let x = clampToInt(a.pixel(x: t, y: a.yMin).x.rounded(.down))
            img.fillRect(Rect(x: x, y: a.bottom + 1, width: 1, height: 5), color: axisColor)
            let tw = Image.textWidth(label, scale: s)
            img.drawText(label, x: x - tw / 2, y: a.bottom + 1 + 5 + 4, scale: s, color: textColor)
        }
    }

    static func drawTitles(_ img: inout Image, _ a: PlotArea, title: String, xLabel: String, yLabel: String,
                           s: Int) {
        if !title.isEmpty {
            var ts = 2 * s
            if Image.textWidth(title, scale: ts) > img.width - 2 * margin { ts = s }
            let tw = Image.textWidth(title, scale: ts)
            let x = tw > img.width - 2 * margin ? margin : (img.width - tw) / 2
            img.drawText(title, x: x, y: margin, scale: ts, color: textColor)
        }
        let cell = Font5x7.cellHeight * s
        if !xLabel.isEmpty {
            let tw = Image.textWidth(xLabel, scale: s)
            let cx = (a.left + a.right) / 2
            img.drawText(xLabel, x: Swift.max(margin, cx - tw / 2), y: img.height - margin - cell + 2 * s,
                         scale: s, color: textColor)
        }
        if !yLabel.isEmpty {
            let tw = Image.textWidth(yLabel, scale: s)
            let cy = (a.top + a.bottom) / 2
            img.drawTextVertical(yLabel, x: margin, y: Swift.max(margin, cy - tw / 2), scale: s, color: textColor)
        }
    }

    static func drawNoData(_ img: inout Image, _ a: PlotArea, s: Int) {
        let text = "no data"
        var ts = 2 * s
        if Image.textWidth(text, scale: ts) > a.right - a.left { ts = s }
        let tw = Image.textWidth(text, scale: ts)
        img.drawText(text, x: (a.left + a.right - tw) / 2, y: (a.top + a.bottom - Font5x7.glyphHeight * ts) / 2,
                     scale: ts, color: mutedColor)
    }

    static func drawLegend(_ img: inout Image, _ a: PlotArea, series: [Series], samples: [(x: Double, y: Double)],
                           s: Int) {
        guard !series.isEmpty, series.contains(where: { !$0.name.isEmpty }) else { return }
        let names = series.enumerated().map { $0.element.name.isEmpty ? "series \($0.offset + 1)" : $0.element.name }
        let pad = 6 * s, swatch = 16 * s, gap = 6 * s
        let rowH = Font5x7.cellHeight * s + 3 * s
        let nameW = names.map { Image.textWidth($0, scale: s) }.max() ?? 0
        let boxW = pad * 2 + swatch + gap + nameW
        let boxH = pad * 2 + names.count * rowH - 3 * s - 2 * s
        let inset = 8
        let xs = [a.right - inset - boxW, a.left + inset + 1]
        let ys = [a.top + inset + 1, a.bottom - inset - boxH]
        // Candidates in preference order: top-right, top-left, bottom-right, bottom-left.
        let candidates = [(xs[0], ys[0]), (xs[1], ys[0]), (xs[0], ys[1]), (xs[1], ys[1])]
        var best = candidates[0], bestScore = Int.max
        for c in candidates {
            let x0 = Double(c.0 - 3), x1 = Double(c.0 + boxW + 3)
            let y0 = Double(c.1 - 3), y1 = Double(c.1 + boxH + 3)
            var score = 0
            for p in samples where p.x >= x0 && p.x <= x1 && p.y >= y0 && p.y <= y1 { score += 1 }
            if score < bestScore {
                bestScore = score
                best = c
            }
        }
        let box = Rect(x: best.0, y: best.1, width: boxW, height: boxH)
        img.fillRect(box, color: .white)
        img.strokeRect(box, color: Color(200, 200, 200))
        let cap = Font5x7.glyphHeight * s
        for (i, name) in names.enumerated() {
            let color = palette[i % palette.count]
            let ty = box.y + pad + i * rowH
            let ly = Double(ty) + Double(cap) / 2
            img.drawLine(from: (x: Double(box.x + pad), y: ly), to: (x: Double(box.x + pad + swatch), y: ly),
                         color: color, width: 3.0 * Double(s))
            img.drawText(name, x: box.x + pad + swatch + gap, y: ty, scale: s, color: textColor)
        }
    }

    // MARK: Bar chart

    /// The plot area `bars(...)` uses; bar `i` is centred at column `left + (i + 0.5) * (right - left) / n`.
    public static func barsLayout(title: String, labels barLabels: [String], values: [Double],
                                  width: Int = 720, height: Int = 420) -> PlotArea {
        let w = Swift.max(1, width), h = Swift.max(1, height)
        let s = textScale(width: w, height: h)
        let finite = values.filter { $0.isFinite }
        var yTicks = [Double]()
        var yr = (0.0, 1.0)
        if !finite.isEmpty {
            var lo = Swift.min(0, finite.min()!), hi = Swift.max(0, finite.max()!)
            if lo == hi { hi = 1 }
            yTicks = niceTicks(min: lo, max: hi)
            lo = yTicks.first!
            hi = yTicks.last!
            yr = (lo, hi)
        }
        let cell = Font5x7.cellHeight * s
        let yTickW = tickLabels(yTicks).map { Image.textWidth($0, scale: s) }.max() ?? 0
        let titleBand = title.isEmpty ? 0 : Font5x7.cellHeight * 2 * s + 6
        let top = margin + titleBand + cell + 4  // room for the value printed above the tallest bar
        let left = margin + yTickW + 4 + 5
        var right = w - margin - 8
        let rows = barLabelRows(barLabels, count: values.count, slot: Double(right - left) / Double(Swift.max(1, values.count)), s: s)
        var bottom = h - margin - (4 + rows * cell)
        if right <= left { right = left + 1 }
        if bottom <= top { bottom = top + 1 }
        return PlotArea(left: left, top: top, right: right, bottom: bottom,
                        xMin: 0, xMax: Double(Swift.max(1, values.count)), yMin: yr.0, yMax: yr.1,
                        xTicks: [], yTicks: yTicks)
    }

    /// A bar chart: one bar per value (colours from `palette`, cycling), its label underneath
    /// (shortened to fit) and its value printed above it (below for negative values) with `valueFormat`,
    /// a printf-style format taking one Double. Non-finite values draw no bar and print "n/a".
    public static func bars(title: String, labels barLabels: [String], values: [Double], valueFormat: String = "%.1f",
                            width: Int = 720, height: Int = 420) -> Image {
        var img = Image(width: width, height: height)
        let s = textScale(width: img.width, height: img.height)
        let a = barsLayout(title: title, labels: barLabels, values: values, width: img.width, height: img.height)
        drawAxes(&img, a, s: s, xTickLabels: false)
        drawTitles(&img, a, title: title, xLabel: "", yLabel: "", s: s)
        guard values.contains(where: { $0.isFinite }) else {
            drawNoData(&img, a, s: s)
            return img
        }
        let n = values.count
        let plotW = Double(a.right - a.left)
        let slot = plotW / Double(n)
        let barW = Swift.max(1, Int(slot * 0.7))
        let zeroY = clampToInt(a.pixel(x: 0, y: 0).y.rounded(.down))
        let cap = Font5x7.glyphHeight * s
        let labelRows = barLabelRows(barLabels, count: n, slot: slot, s: s)
        if zeroY > a.top && zeroY < a.bottom {
            img.fillRect(Rect(x: a.left, y: zeroY, width: a.right - a.left + 1, height: 1), color: axisColor)
        }
        for (i, v) in values.enumerated() {
            let cx = a.left + Int((Double(i) + 0.5) * slot)
            let color = palette[i % palette.count]
            let valueText: String
            var textY: Int
            if v.isFinite {
                let vy = clampToInt(a.pixel(x: 0, y: v).y.rounded(.down))
                let y0 = Swift.min(vy, zeroY), y1 = Swift.max(vy, zeroY)
                let rect = v >= 0 ? Rect(x: cx - barW / 2, y: y0, width: barW, height: y1 - y0)
                                  : Rect(x: cx - barW / 2, y: y0 + 1, width: barW, height: y1 - y0)
                img.fillRect(rect.intersection(a.frame), color: color)
                valueText = String(format: valueFormat, v)
                textY = v >= 0 ? vy - 4 - cap : vy + 5
            } else {
                valueText = "n/a"
                textY = zeroY - 4 - cap
            }
            let tw = Image.textWidth(valueText, scale: s)
            if Double(tw) <= slot {
                textY = Swift.max(0, Swift.min(img.height - cap, textY))
                img.drawText(valueText, x: cx - tw / 2, y: textY, scale: s, color: textColor)
            }
            // Category label, shortened to its room (two slots wide when labels alternate rows).
            var label = i < barLabels.count ? barLabels[i] : ""
            let room = Int(slot * Double(labelRows)) - 2 * s
            if Image.textWidth(label, scale: s) > room {
                while !label.isEmpty && Image.textWidth(label + "..", scale: s) > room { label.removeLast() }
                label = label.isEmpty ? "" : label + ".."
            }
            if !label.isEmpty {
                let lw = Image.textWidth(label, scale: s)
                img.drawText(label, x: cx - lw / 2, y: a.bottom + 1 + 4 + (i % labelRows) * Font5x7.cellHeight * s,
                             scale: s, color: textColor)
            }
        }
        return img
    }

    /// 1, or 2 when some label is too wide for its slot (labels then alternate between two rows).
    static func barLabelRows(_ labels: [String], count: Int, slot: Double, s: Int) -> Int {
        guard count > 1 else { return 1 }
        let room = Int(slot) - 2 * s
        return labels.prefix(count).contains { Image.textWidth($0, scale: s) > room } ? 2 : 1
    }
}
