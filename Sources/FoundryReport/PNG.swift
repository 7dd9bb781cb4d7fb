// An RGB raster and a self-contained PNG encoder (zlib + CRC-32 + Adler-32, no dependencies).

import Foundation
import FoundryCore
import FoundryFiles
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An opaque 8-bit RGB colour.
public struct Color: Equatable, Hashable, Sendable {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    public static let white = Color(255, 255, 255)
    public static let black = Color(0, 0, 0)
}

/// How the IDAT zlib stream is compressed.
public enum PNGCompression: Sendable {
    /// Stored (uncompressed) deflate blocks of at most 65535 bytes each.
    case stored
    /// One fixed-Huffman deflate block with LZ77 matches (much smaller for flat chart art).
    case fixedHuffman
}

/// A row-major 8-bit RGB image: pixel (x, y) lives at `pixels[(y * width + x) * 3 ..< +3]`.
public struct Image {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    /// Dimensions below 1 are raised to 1 (a PNG cannot be empty).
    public init(width: Int, height: Int, background: Color = .white) {
        self.width = max(1, width)
        self.height = max(1, height)
        var px = [UInt8](repeating: 0, count: self.width * self.height * 3)
        px.withUnsafeMutableBufferPointer { buf in
            var i = 0
            while i < buf.count {
                buf[i] = background.r
                buf[i + 1] = background.g
                buf[i + 2] = background.b
                i += 3
            }
        }
        self.pixels = px
    }

    /// The colour at (x, y); nil outside the image.
    public func pixel(x: Int, y: Int) -> Color? {
        guard x >= 0, y >= 0, x < width, y < height else { return nil }
        let i = (y * width + x) * 3
        return Color(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// The encoded PNG file: signature, IHDR (8-bit RGB), one IDAT, IEND. Every row uses filter 0.
    public func pngData(compression: PNGCompression = .fixedHuffman) -> Data {
        let rowBytes = width * 3
        var raw = [UInt8]()
        raw.reserveCapacity(height * (rowBytes + 1))
        for y in 0..<height {
            raw.append(0)  // filter type 0 (None)
            raw.append(contentsOf: pixels[(y * rowBytes)..<((y + 1) * rowBytes)])
        }

        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var ihdr = [UInt8]()
        PNGEncoder.appendBE32(&ihdr, UInt32(width))
        PNGEncoder.appendBE32(&ihdr, UInt32(height))
        ihdr += [8, 2, 0, 0, 0]  // bit depth 8, colour type 2 (RGB), deflate, filter method 0, no interlace
        PNGEncoder.appendChunk(&out, "IHDR", ihdr)
        PNGEncoder.appendChunk(&out, "IDAT", Zlib.compress(raw, compression))
        PNGEncoder.appendChunk(&out, "IEND", [])
        return Data(out)
    }

    /// Writes the PNG atomically (`AtomicFile`).
    public func write(to path: String, compression: PNGCompression = .fixedHuffman) throws {
        try AtomicFile.write(pngData(compression: compression), to: path)
    }
}

// MARK: - Checksums and chunks

enum PNGEncoder {
    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32<S: Sequence>(_ bytes: S, start: UInt32 = 0xFFFF_FFFF) -> UInt32 where S.Element == UInt8 {
        var c = start
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c
    }

    static func appendBE32(_ out: inout [UInt8], _ v: UInt32) {
        out += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    static func appendChunk(_ out: inout [UInt8], _ type: String, _ data: [UInt8]) {
        let typeBytes = Array(type.utf8)
        appendBE32(&out, UInt32(data.count))
        out += typeBytes
        out += data
        let crc = crc32(data, start: crc32(typeBytes)) ^ 0xFFFF_FFFF
        appendBE32(&out, crc)
    }
}

enum Zlib {
    static func adler32(_ data: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        var i = 0
        while i < data.count {
            let end = min(data.count, i + 5552)  // largest run that cannot overflow 32 bits before the modulo
            while i < end {
                a &+= UInt32(data[i])
                b &+= a
                i += 1
            }
            a %= 65521
            b %= 65521
        }
        return (b << 16) | a
    }

    static func compress(_ data: [UInt8], _ mode: PNGCompression) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]  // deflate, 32 KiB window; (0x78 * 256 + 0x01) % 31 == 0
        switch mode {
        case .stored: out += Deflate.stored(data)
        case .fixedHuffman: out += Deflate.fixedHuffman(data)
        }
        PNGEncoder.appendBE32(&out, adler32(data))
        return out
    }
}

// MARK: - Deflate

enum Deflate {
    static func stored(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(data.count + (data.count / 65535 + 1) * 5)
        var i = 0
        repeat {
            let n = min(65535, data.count - i)
            let final = i + n == data.count
            out.append(final ? 1 : 0)  // BFINAL, BTYPE = 00, padding to the byte boundary
            out += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[i..<(i + n)]
            i += n
        } while i < data.count
        return out
    }

    /// Little-endian bit packer (deflate's bit order).
    struct BitWriter {
        var bytes = [UInt8]()
        var acc: UInt64 = 0
        var count = 0

        mutating func write(_ value: UInt32, _ n: Int) {
            acc |= UInt64(value) << UInt64(count)
            count += n
            while count >= 8 {
                bytes.append(UInt8(acc & 0xFF))
                acc >>= 8
                count -= 8
            }
        }

        mutating func flush() {
            if count > 0 { bytes.append(UInt8(acc & 0xFF)) }
            acc = 0
            count = 0
        }
    }

    static func reverse(_ code: UInt32, _ n: Int) -> UInt32 {
        var r: UInt32 = 0
        for k in 0..<n where (code >> UInt32(k)) & 1 != 0 { r |= 1 << UInt32(n - 1 - k) }
        return r
    }

    /// Fixed literal/length codes (RFC 1951 §3.2.6), bit-reversed for LSB-first emission.
    static let litCodes: [(code: UInt32, len: Int)] = (0..<288).map { s -> (code: UInt32, len: Int) in
        switch s {
        case 0...143: return (reverse(UInt32(0x30 + s), 8), 8)
        case 144...255: return (reverse(UInt32(0x190 + s - 144), 9), 9)
        case 256...279: return (reverse(UInt32(s - 256), 7), 7)
        default: return (reverse(UInt32(0xC0 + s - 280), 8), 8)
        }
    }

    static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                    35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                                     3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385,
                                  513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7,
                                   8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    /// Length 3...258 -> index into lengthBase.
    static let lengthIndex: [Int] = {
        var t = [Int](repeating: 0, count: 259)
        for (i, base) in lengthBase.enumerated() {
            let span = i == lengthBase.count - 1 ? 1 : lengthBase[i + 1] - base
            for l in base..<(base + span) where l <= 258 { t[l] = i }
        }
        t[258] = lengthBase.count - 1  // 258 has its own code (285), not 284 + 31
        return t
    }()

    static func distIndex(_ d: Int) -> Int {
        var i = distBase.count - 1
        while distBase[i] > d { i -= 1 }
        return i
    }

    static func fixedHuffman(_ data: [UInt8]) -> [UInt8] {
        let n = data.count
        let window = 32768, maxLen = 258, maxChain = 48
        let hashBits = 15, mask = window - 1
        var head = [Int32](repeating: -1, count: 1 << hashBits)
        var prev = [Int32](repeating: -1, count: window)
        var w = BitWriter()
        w.bytes.reserveCapacity(n / 8 + 64)
        w.write(1, 1)  // BFINAL
        w.write(1, 2)  // BTYPE = 01 (fixed Huffman)

        data.withUnsafeBufferPointer { d in
            @inline(__always) func hash(_ i: Int) -> Int {
                ((Int(d[i]) << 10) ^ (Int(d[i + 1]) << 5) ^ Int(d[i + 2])) & ((1 << hashBits) - 1)
            }
            @inline(__always) func insert(_ i: Int) {
                let h = hash(i)
                prev[i & mask] = head[h]
                head[h] = Int32(i)
            }
            var i = 0
            while i < n {
                var bestLen = 0, bestDist = 0
                if i + 2 < n {
                    let limit = min(maxLen, n - i)
                    var cand = Int(head[hash(i)])
                    var chain = maxChain
                    while cand >= 0, i - cand <= window, chain > 0 {
                        if d[cand + bestLen] == d[i + bestLen] || bestLen == 0 {
                            var l = 0
                            while l < limit, d[cand + l] == d[i + l] { l += 1 }
                            if l > bestLen {
                                bestLen = l
                                bestDist = i - cand
                                if l == limit { break }
                            }
                        }
                        cand = Int(prev[cand & mask])
                        chain -= 1
                    }
                    insert(i)
                }
                if bestLen >= 3 {
                    let li = lengthIndex[bestLen]
                    let lc = litCodes[257 + li]
                    w.write(lc.code, lc.len)
                    if lengthExtra[li] > 0 { w.write(UInt32(bestLen - lengthBase[li]), lengthExtra[li]) }
                    let di = distIndex(bestDist)
                    w.write(reverse(UInt32(di), 5), 5)
                    if distExtra[di] > 0 { w.write(UInt32(bestDist - distBase[di]), distExtra[di]) }
                    var k = i + 1
                    let end = i + bestLen
                    while k < end {
                        if k + 2 < n { insert(k) }
                        k += 1
                    }
                    i = end
                } else {
                    let lc = litCodes[Int(d[i])]
                    w.write(lc.code, lc.len)
                    i += 1
                }
            }
        }
        let eob = litCodes[256]
        w.write(eob.code, eob.len)
        w.flush()
        return w.bytes
    }
}
