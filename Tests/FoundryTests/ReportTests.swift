// FoundryReport: the PNG bytes decode back to the pixels (checked with an independent bit-by-bit
// CRC-32, Adler-32 and inflater written here), and the charts put their marks where they should.

import Foundation
import XCTest
import FoundryReport

final class ReportTests: XCTestCase {

    // MARK: Independent PNG decoding helpers

    struct Chunk {
        let type: String
        let data: [UInt8]
        let crc: UInt32
    }

    /// Bit-at-a-time CRC-32 (reflected, polynomial 0xEDB88320), no tables.
    static func crcBitwise(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 {
                let lsb = crc & 1
                crc >>= 1
                if lsb == 1 { crc ^= 0xEDB8_8320 }
            }
        }
        return ~crc
    }

    static func adlerSimple(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in bytes {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        return b << 16 | a
    }

    static func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    /// Splits a PNG into chunks, checking the signature and every CRC.
    static func parseChunks(_ data: Data, file: StaticString = #filePath, line: UInt = #line) -> [Chunk] {
        let b = [UInt8](data)
        XCTAssertEqual(Array(b.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "PNG signature",
                       file: file, line: line)
        var chunks = [Chunk]()
        var i = 8
        while i + 12 <= b.count {
            let len = Int(be32(b, i))
            guard i + 12 + len <= b.count else {
                XCTFail("chunk overruns the file", file: file, line: line)
                break
            }
            let typeBytes = Array(b[(i + 4)..<(i + 8)])
            let body = Array(b[(i + 8)..<(i + 8 + len)])
            let crc = be32(b, i + 8 + len)
            XCTAssertEqual(crc, crcBitwise(typeBytes + body), "CRC of \(String(decoding: typeBytes, as: UTF8.self))",
                           file: file, line: line)
            chunks.append(Chunk(type: String(decoding: typeBytes, as: UTF8.self), data: body, crc: crc))
            i += 12 + len
        }
        XCTAssertEqual(i, b.count, "trailing bytes after the last chunk", file: file, line: line)
        return chunks
    }

    struct Inflated {
        var bytes: [UInt8]
        var blockTypes: [Int]
        var storedLengths: [Int]
    }

    enum InflateError: Error { case truncated, badStoredLength, unsupportedBlock(Int), badSymbol, badDistance }

    /// A small inflater for stored and fixed-Huffman blocks, written independently of the encoder.
    static func inflate(_ src: [UInt8]) throws -> Inflated {
        var pos = 0, bit = 0
        func readBit() throws -> Int {
            guard pos < src.count else { throw InflateError.truncated }
            let v = Int(src[pos] >> UInt8(bit)) & 1
            bit += 1
            if bit == 8 { bit = 0; pos += 1 }
            return v
        }
        func readBits(_ n: Int) throws -> Int {  // LSB-first value
            var v = 0
            for k in 0..<n { v |= try readBit() << k }
            return v
        }
        // Canonical Huffman from code lengths: map (length, code) -> symbol.
        func table(_ lengths: [Int]) -> [Int: Int] {
            var t = [Int: Int]()
            var code = 0
            for len in 1...15 {
                for (sym, l) in lengths.enumerated() where l == len {
                    t[len << 16 | code] = sym
                    code += 1
                }
                code <<= 1
            }
            return t
        }
        func decode(_ t: [Int: Int]) throws -> Int {
            var code = 0
            for len in 1...15 {
                code = code << 1 | (try readBit())  // Huffman codes arrive most significant bit first
                if let s = t[len << 16 | code] { return s }
            }
            throw InflateError.badSymbol
        }
        let litLengths = (0..<288).map { $0 < 144 ? 8 : $0 < 256 ? 9 : $0 < 280 ? 7 : 8 }
        let litTable = table(litLengths)
        let distTable = table([Int](repeating: 5, count: 30))
        var lenBase = [Int](), lenExtra = [Int]()
        var base = 3
        for code in 0..<28 {
            let extra = code < 8 ? 0 : code / 4 - 1
            lenBase.append(base)
            lenExtra.append(extra)
            base += 1 << extra
        }
        lenBase.append(258)
        lenExtra.append(0)
        var distBase = [Int](), distExtra = [Int]()
        base = 1
        for code in 0..<30 {
            let extra = code < 4 ? 0 : code / 2 - 1
            distBase.append(base)
            distExtra.append(extra)
            base += 1 << extra
        }

        var out = Inflated(bytes: [], blockTypes: [], storedLengths: [])
        var final = 0
        repeat {
            final = try readBit()
            let type = try readBits(2)
            out.blockTypes.append(type)
            switch type {
            case 0:
                if bit != 0 { bit = 0; pos += 1 }
                guard pos + 4 <= src.count else { throw InflateError.truncated }
                let len = Int(src[pos]) | Int(src[pos + 1]) << 8
                let nlen = Int(src[pos + 2]) | Int(src[pos + 3]) << 8
                guard len ^ 0xFFFF == nlen else { throw InflateError.badStoredLength }
                pos += 4
                guard pos + len <= src.count else { throw InflateError.truncated }
                out.bytes += src[pos..<(pos + len)]
                out.storedLengths.append(len)
                pos += len
            case 1:
                while true {
                    let sym = try decode(litTable)
                    if sym < 256 {
                        out.bytes.append(UInt8(sym))
                    } else if sym == 256 {
                        break
                    } else {
                        let li = sym - 257
                        guard li < 29 else { throw InflateError.badSymbol }
                        let length = lenBase[li] + (try readBits(lenExtra[li]))
                        let di = try decode(distTable)
                        guard di < 30 else { throw InflateError.badSymbol }
                        let dist = distBase[di] + (try readBits(distExtra[di]))
                        guard dist <= out.bytes.count else { throw InflateError.badDistance }
                        let start = out.bytes.count - dist
                        for k in 0..<length { out.bytes.append(out.bytes[start + k]) }
                    }
                }
            default:
                throw InflateError.unsupportedBlock(type)
            }
        } while final == 0
        return out
    }

    /// Full check of an encoded image; returns the number of deflate blocks.
    @discardableResult
    static func verifyPNG(_ img: Image, _ compression: PNGCompression,
                          file: StaticString = #filePath, line: UInt = #line) throws -> Inflated {
        let chunks = parseChunks(img.pngData(compression: compression), file: file, line: line)
        XCTAssertEqual(chunks.first?.type, "IHDR", file: file, line: line)
        XCTAssertEqual(chunks.last?.type, "IEND", file: file, line: line)
        XCTAssertEqual(chunks.last?.data.count, 0, file: file, line: line)
        let ihdr = try XCTUnwrap(chunks.first).data
        XCTAssertEqual(ihdr.count, 13, file: file, line: line)
        XCTAssertEqual(be32(ihdr, 0), UInt32(img.width), "width", file: file, line: line)
        XCTAssertEqual(be32(ihdr, 4), UInt32(img.height), "height", file: file, line: line)
        XCTAssertEqual(Array(ihdr[8...]), [8, 2, 0, 0, 0], "depth 8, RGB, deflate, filter 0, no interlace",
                       file: file, line: line)
        let z = chunks.filter { $0.type == "IDAT" }.flatMap { $0.data }
        XCTAssertGreaterThan(z.count, 6, file: file, line: line)
        XCTAssertEqual(z[0] & 0x0F, 8, "zlib CM = deflate", file: file, line: line)
        XCTAssertLessThanOrEqual(z[0] >> 4, 7, "window <= 32 KiB", file: file, line: line)
        XCTAssertEqual((Int(z[0]) * 256 + Int(z[1])) % 31, 0, "zlib FCHECK", file: file, line: line)
        XCTAssertEqual(z[1] & 0x20, 0, "no preset dictionary", file: file, line: line)
        let inflated = try inflate(Array(z[2..<(z.count - 4)]))
        let raw = inflated.bytes
        XCTAssertEqual(be32(z, z.count - 4), adlerSimple(raw), "Adler-32", file: file, line: line)
        let rowBytes = img.width * 3
        XCTAssertEqual(raw.count, img.height * (rowBytes + 1), file: file, line: line)
        guard raw.count == img.height * (rowBytes + 1) else { return inflated }
        for y in 0..<img.height {
            let row = raw[(y * (rowBytes + 1))..<((y + 1) * (rowBytes + 1))]
            XCTAssertEqual(row.first, 0, "filter type of row \(y)", file: file, line: line)
            if Array(row.dropFirst()) != Array(img.pixels[(y * rowBytes)..<((y + 1) * rowBytes)]) {
                XCTFail("row \(y) differs from the pixels", file: file, line: line)
                break
            }
        }
        return inflated
    }

    static func noise(width: Int, height: Int, seed: UInt64) -> Image {
        var img = Image(width: width, height: height, background: Color(10, 20, 30))
        var state = seed
        for i in 0..<img.pixels.count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            // Mix noise with runs so both literals and matches occur.
            if (i / 97) % 3 != 0 { img.pixels[i] = UInt8(truncatingIfNeeded: state >> 56) }
        }
        return img
    }

    // MARK: PNG

    func testChecksumHelpersAgreeWithKnownValues() {
        // Standard check values for "123456789".
        XCTAssertEqual(Self.crcBitwise(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(Self.adlerSimple(Array("Wikipedia".utf8)), 0x11E6_0398)
    }

    func testStoredPNGDecodesToPixels() throws {
        let small = Self.noise(width: 37, height: 23, seed: 1)
        let a = try Self.verifyPNG(small, .stored)
        XCTAssertEqual(a.blockTypes, [0])
        // More than 65535 raw bytes: several stored blocks, none over the limit.
        let big = Self.noise(width: 160, height: 140, seed: 2)
        let b = try Self.verifyPNG(big, .stored)
        XCTAssertGreaterThan(b.blockTypes.count, 1)
        XCTAssertTrue(b.blockTypes.allSatisfy { $0 == 0 })
        XCTAssertTrue(b.storedLengths.allSatisfy { $0 <= 65535 })
        try Self.verifyPNG(Image(width: 1, height: 1, background: Color(1, 2, 3)), .stored)
    }

    func testFixedHuffmanPNGDecodesToPixels() throws {
        try Self.verifyPNG(Self.noise(width: 53, height: 41, seed: 3), .fixedHuffman)
        try Self.verifyPNG(Image(width: 1, height: 1), .fixedHuffman)
        try Self.verifyPNG(Image(width: 300, height: 2, background: Color(7, 7, 7)), .fixedHuffman)
        let chart = Chart.line(title: "loss", xLabel: "step", yLabel: "loss",
                               series: [Series(name: "train", y: (0..<200).map { 3 * exp(-Double($0) / 50) + 1 })],
                               width: 320, height: 200)
        let r = try Self.verifyPNG(chart, .fixedHuffman)
        XCTAssertEqual(r.blockTypes, [1])
        XCTAssertLessThan(chart.pngData().count, chart.pixels.count / 5, "flat chart art compresses well")
    }

    func testWriteIsAtomicAndMatchesEncoding() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("foundry-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("card.png").path
        let img = Self.noise(width: 20, height: 10, seed: 4)
        try img.write(to: path)
        try Image(width: 5, height: 5).write(to: path)  // replaces the existing file
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Image(width: 5, height: 5).pngData())
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["card.png"], "no temp files left")
        XCTAssertThrowsError(try img.write(to: dir.appendingPathComponent("missing/x.png").path))
    }

    // MARK: Drawing and font

    func testFontCoversPrintableASCII() {
        var seen = Set<[UInt8]>()
        for code in 33...126 {
            let ch = String(UnicodeScalar(UInt8(code)))
            var img = Image(width: 7, height: 11)
            img.drawText(ch, x: 1, y: 1, color: .black)
            let ink = stride(from: 0, to: img.pixels.count, by: 3).filter { img.pixels[$0] == 0 }.count
            XCTAssertGreaterThan(ink, 0, "glyph for \(ch)")
            XCTAssertTrue(seen.insert(img.pixels).inserted, "glyph for \(ch) duplicates another")
        }
        var blank = Image(width: 7, height: 11)
        blank.drawText(" ", x: 1, y: 1, color: .black)
        XCTAssertEqual(blank.pixels, Image(width: 7, height: 11).pixels)
        XCTAssertEqual(Image.textWidth("val_loss", scale: 2), (8 * 6 - 1) * 2)
    }

    func testDrawingClipsAndFills() {
        var img = Image(width: 10, height: 8)
        img.fillRect(Rect(x: -5, y: 6, width: 100, height: 100), color: Color(9, 9, 9))
        XCTAssertEqual(img.pixel(x: 0, y: 7), Color(9, 9, 9))
        XCTAssertEqual(img.pixel(x: 9, y: 6), Color(9, 9, 9))
        XCTAssertEqual(img.pixel(x: 9, y: 5), .white)
        img.drawLine(from: (x: -100, y: 2.5), to: (x: 100, y: 2.5), color: .black, width: 1)
        XCTAssertEqual(img.pixel(x: 5, y: 2), .black)
        XCTAssertEqual(img.pixel(x: 5, y: 0), .white)
        img.drawText("Hello, world! 1.95e-3 100%", x: -3, y: -2, scale: 3, color: .black)
        img.drawTextVertical("val_loss", x: 4, y: -20, scale: 2, color: .black)
        img.fillCircle(center: (x: .nan, y: 1), radius: 3, color: .black)
        img.drawLine(from: (x: -.infinity, y: 0), to: (x: 1e308, y: -1e308), color: .black)
        XCTAssertNil(img.pixel(x: 10, y: 0))
    }

    // MARK: Charts

    func testNiceTicksAndLabels() {
        let unit = Chart.niceTicks(min: 0, max: 1)
        XCTAssertEqual(unit.count, 6)
        for (got, want) in zip(unit, [0, 0.2, 0.4, 0.6, 0.8, 1]) { XCTAssertEqual(got, want, accuracy: 1e-12) }
        let t = Chart.niceTicks(min: 1.93, max: 10.87)
        XCTAssertLessThanOrEqual(t.first!, 1.93)
        XCTAssertGreaterThanOrEqual(t.last!, 10.87)
        XCTAssertTrue((4...8).contains(t.count), "\(t)")
        let step = t[1] - t[0]
        let mantissa = step / pow(10, log10(step).rounded(.down))
        XCTAssertTrue([1, 2, 5].contains { abs($0 - mantissa) < 1e-9 }, "step \(step)")
        XCTAssertEqual(Chart.niceTicks(min: 3, max: 3).count > 1, true)
        XCTAssertEqual(Chart.formatTick(0.4, step: 0.2), "0.4")
        XCTAssertEqual(Chart.formatTick(1500, step: 500), "1500")
        XCTAssertEqual(Chart.formatTick(0, step: 0.5), "0")
        XCTAssertEqual(Chart.formatTick(0.0015, step: 0.0005), "1.5e-3")
        XCTAssertEqual(Chart.formatTick(2e6, step: 1e6), "2e6")
        XCTAssertEqual(Chart.formatTick(-0.25, step: 0.05), "-0.25")
        XCTAssertEqual(Chart.tickLabels([0, 5e-4, 1e-3, 1.5e-3, 2e-3]), ["0", "5.0e-4", "1.0e-3", "1.5e-3", "2.0e-3"])
        XCTAssertEqual(Chart.tickLabels([0, 500, 1000]), ["0", "500", "1000"])
    }

    static func close(_ c: Color?, _ e: Color, tolerance: Int = 40) -> Bool {
        guard let c else { return false }
        return abs(Int(c.r) - Int(e.r)) + abs(Int(c.g) - Int(e.g)) + abs(Int(c.b) - Int(e.b)) <= tolerance
    }

    func testLineChartDrawsPointsWhereTheMappingSays() {
        let a = Series(name: "train_loss", points: [(0, 1), (10, 2), (20, 4), (30, 8)])
        let b = Series(name: "val_loss", points: [(0, 0.5), (15, .nan), (20, 0.25), (30, 0.125)])
        let series = [a, b]
        let img = Chart.line(title: "Loss", xLabel: "step", yLabel: "loss", series: series)
        let area = Chart.lineLayout(title: "Loss", xLabel: "step", yLabel: "loss", series: series)
        XCTAssertLessThanOrEqual(area.xMin, 0)
        XCTAssertGreaterThanOrEqual(area.xMax, 30)
        XCTAssertLessThanOrEqual(area.yMin, 0.125)
        XCTAssertGreaterThanOrEqual(area.yMax, 8)
        for (i, s) in series.enumerated() {
            for p in s.points where p.y.isFinite {
                let q = area.pixel(x: p.x, y: p.y)
                let px = Int(q.x.rounded(.down)), py = Int(q.y.rounded(.down))
                XCTAssertTrue(Self.close(img.pixel(x: px, y: py), Chart.palette[i]),
                              "series \(s.name) at \(p): pixel (\(px), \(py)) is \(String(describing: img.pixel(x: px, y: py)))")
            }
        }
        // Midway along the first segment of series a the line itself is drawn.
        let mid = area.pixel(x: 5, y: 1.5)
        XCTAssertTrue(Self.close(img.pixel(x: Int(mid.x), y: Int(mid.y)), Chart.palette[0], tolerance: 120))
        // The plot's interior far from any data stays background (or grid).
        let empty = area.pixel(x: 25, y: 0.5 * (area.yMin + area.yMax) + 1.4)
        let c = img.pixel(x: Int(empty.x), y: Int(empty.y))!
        XCTAssertTrue(c.r > 200 && c.g > 200 && c.b > 200, "\(c)")
    }

    func testBarsChartDrawsTallestBarTallest() {
        let values = [3.0, 9.5, 1.25, 6.0]
        let img = Chart.bars(title: "tokens/s", labels: ["cpu", "opencl", "tiny", "mid"], values: values,
                             valueFormat: "%.2f")
        var tops = [Int]()
        var areas = [Int]()
        for i in values.indices {
            let color = Chart.palette[i]
            var top = Int.max, count = 0
            for y in 0..<img.height {
                for x in 0..<img.width where img.pixel(x: x, y: y) == color {
                    top = min(top, y)
                    count += 1
                }
            }
            tops.append(top)
            areas.append(count)
        }
        XCTAssertEqual(tops.indices.min { tops[$0] < tops[$1] }, 1, "tallest value has the highest top: \(tops)")
        XCTAssertEqual(areas.indices.max { areas[$0] < areas[$1] }, 1, "\(areas)")
        XCTAssertEqual(areas.indices.min { areas[$0] < areas[$1] }, 2, "\(areas)")
        // Bar heights are proportional to the values (the axis starts at 0).
        let ratio = Double(areas[1]) / Double(areas[0])
        XCTAssertEqual(ratio, 9.5 / 3.0, accuracy: 0.1)
    }

    func testEdgeCasesDoNotCrash() throws {
        let weird: [[Series]] = [
            [],
            [Series(name: "", points: [])],
            [Series(name: "nan", points: [(0, .nan), (.infinity, 1), (2, -.infinity)])],
            [Series(name: "one", points: [(5, 5)])],
            [Series(name: "const", y: [2, 2, 2, 2])],
            [Series(name: "zero", y: [0, 0, 0])],
            [Series(name: "huge", points: [(0, 1e308), (1, -1e308), (-1e308, 0)])],
            [Series(name: "tiny", points: [(0, 1e-300), (1, 2e-300)])],
            [Series(name: "offset", points: [(0, 1e9), (1, 1e9 + 1e-6)])],
            (0..<14).map { Series(name: "s\($0) ünïcode", y: [Double($0), Double($0) * 2]) },
        ]
        for (k, s) in weird.enumerated() {
            for (w, h) in [(720, 420), (1, 1), (40, 30), (1600, 900)] {
                let img = Chart.line(title: "case \(k)", xLabel: "x", yLabel: "y", series: s, width: w, height: h)
                XCTAssertEqual(img.width, w)
                XCTAssertEqual(img.height, h)
                XCTAssertEqual(img.pixels.count, w * h * 3)
            }
        }
        // "no data" is written for an empty chart: dark ink appears inside the plot area.
        let empty = Chart.line(title: "", xLabel: "", yLabel: "", series: [])
        let a = Chart.lineLayout(title: "", xLabel: "", yLabel: "", series: [])
        var ink = 0
        for y in (a.top + 2)..<(a.bottom - 1) {
            for x in (a.left + 2)..<(a.right - 1) where empty.pixel(x: x, y: y)!.r < 200 { ink += 1 }
        }
        XCTAssertGreaterThan(ink, 20)

        let barCases: [([String], [Double])] = [
            ([], []), (["a"], [.nan]), (["a", "b"], [0, 0]), (["neg", "pos"], [-3, 2]),
            (["only label"], [1, 2, 3]), (["x", "y", "z"], [1]), (["inf"], [.infinity, 1e308, -1e308]),
            ((0..<300).map { "label \($0)" }, (0..<300).map { Double($0) }),
            (["a very long label that cannot possibly fit under its bar"], [42]),
        ]
        for (labels, values) in barCases {
            for (w, h) in [(720, 420), (1, 1), (50, 40)] {
                let img = Chart.bars(title: "bars", labels: labels, values: values, width: w, height: h)
                XCTAssertEqual(img.pixels.count, w * h * 3)
            }
        }
        XCTAssertEqual(Image(width: 0, height: -3).width, 1)
        try Self.verifyPNG(Chart.bars(title: "neg", labels: ["a", "b"], values: [-3, 2], width: 90, height: 60),
                           .fixedHuffman)
    }
}
