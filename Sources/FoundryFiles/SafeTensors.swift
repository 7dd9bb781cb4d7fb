import Foundation
import FoundryCore

/// One tensor of a checkpoint, as host floats in row-major order.
public struct NamedTensor: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]

    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.values = values
    }

    /// Number of elements the shape describes (1 for a scalar, shape `[]`).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// The safetensors file format (Hugging Face): an 8-byte little-endian header length, a JSON
/// header `{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`,
/// then the raw little-endian tensor bytes, offsets relative to the end of the header.
public enum SafeTensors {
    /// The element types `read` understands, with their sizes in bytes.
    static let dtypeSizes: [String: Int] = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I32": 4, "I64": 8]

    /// Reads every tensor as Float (F32 as-is; F16, BF16, F64, and integer I32/I64 converted to Float).
    /// Keeps header order irrelevant: returns dictionary.
    public static func read(path: String) throws -> (tensors: [String: NamedTensor], metadata: [String: String]) {
        let fix = "re-download or re-save it"
        func fail(_ problem: String, _ remedy: String = fix) -> FoundryError {
            FoundryError("\(path): \(problem); \(remedy)")
        }

        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FoundryError.missingFile(path, hint: "expected a .safetensors file; check the path")
        }
        if isDirectory.boolValue {
            throw fail("is a folder, not a safetensors file", "name the .safetensors file inside it")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw fail("cannot be read (\(error.localizedDescription))", "check its permissions")
        }

        let fileSize = data.count
        guard fileSize >= 8 else {
            throw fail("file is \(fileSize) bytes, shorter than the 8-byte header length: truncated or not a safetensors file")
        }
        let headerLength64: UInt64 = data.withUnsafeBytes { raw in
            UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        }
        guard headerLength64 <= UInt64(fileSize - 8) else {
            throw fail("header length \(headerLength64) is larger than the file (\(fileSize) bytes): truncated or not a safetensors file")
        }
        let headerLength = Int(headerLength64)
        let dataStart = 8 + headerLength
        let dataLength = fileSize - dataStart

        let headerObject: Any
        do {
            headerObject = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<dataStart), options: [])
        } catch {
            throw fail("header is not JSON: not a safetensors file, or a damaged one")
        }
        guard let header = headerObject as? [String: Any] else {
            throw fail("header is JSON but not an object: not a safetensors file")
        }

        var metadata: [String: String] = [:]
        if let meta = header["__metadata__"] {
            guard let dict = meta as? [String: Any] else {
                throw fail("__metadata__ is not a JSON object", "re-save the file")
            }
            for (key, value) in dict {
                if let s = value as? String { metadata[key] = s } else { metadata[key] = "\(value)" }
            }
        }

        // Validate every entry before copying anything.
        struct Entry { let name: String; let dtype: String; let shape: [Int]; let begin: Int; let end: Int }
        var entries: [Entry] = []
        entries.reserveCapacity(header.count)
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any],
                  let dtype = info["dtype"] as? String,
                  let shapeAny = info["shape"] as? [Any],
                  let offsetsAny = info["data_offsets"] as? [Any]
            else {
                throw fail("tensor \(name) has a malformed header entry (needs dtype, shape, data_offsets)",
                           "the file is damaged; re-save it")
            }
            let shape = shapeAny.compactMap(jsonInt)
            let offsets = offsetsAny.compactMap(jsonInt)
            guard shape.count == shapeAny.count, shape.allSatisfy({ $0 >= 0 }),
                  offsets.count == 2, offsetsAny.count == 2
            else {
                throw fail("tensor \(name) has a malformed shape or data_offsets", "the file is damaged; re-save it")
            }
            guard let size = dtypeSizes[dtype] else {
                throw fail("tensor \(name) has unsupported dtype \(dtype) (Foundry reads F32, F16, BF16, F64, I32, I64)",
                           "convert it to float32 and re-save it")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataLength else {
                throw fail("truncated: tensor \(name) needs bytes \(begin)..\(end) but the file has \(dataLength)")
            }
            var count = 1
            var overflow = false
            for d in shape + [size] {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                count = p
                overflow = overflow || o
            }
            guard !overflow, end - begin == count else {
                let shapeText = "[" + shape.map(String.init).joined(separator: ", ") + "]"
                throw fail("tensor \(name) has \(end - begin) bytes of data but shape \(shapeText) of \(dtype) needs \(overflow ? "more than Int.max" : String(count))",
                           "the file is damaged; re-save it")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }

        var tensors: [String: NamedTensor] = [:]
        tensors.reserveCapacity(entries.count)
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            for e in entries {
                let bytes = UnsafeRawBufferPointer(rebasing: raw[(dataStart + e.begin)..<(dataStart + e.end)])
                let values = convertToFloat(bytes, dtype: e.dtype)
                tensors[e.name] = NamedTensor(name: e.name, shape: e.shape, values: values)
            }
        }
        return (tensors, metadata)
    }

    /// Writes F32 tensors in the given order (data offsets consecutive, header padded with spaces to
    /// a multiple of 8 as the format allows), with optional __metadata__ (e.g. ["format": "pt"]).
    /// Atomic: writes "<path>.tmp-<pid>" in the same directory, then renames it over the target.
    public static func write(_ tensors: [NamedTensor], metadata: [String: String], to path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FoundryError("cannot write \(path): folder \(directory) does not exist; create it first")
        }
        let body = try writer(tensors, metadata: metadata, name: path)
        try AtomicFile.write(to: path, body)
    }

    /// The file's bytes as a stream to write (for `FileSet`, which commits several files as one);
    /// the header is checked here, so a bad tensor fails before anything is written.
    public static func writer(_ tensors: [NamedTensor], metadata: [String: String], name path: String) throws -> (FileHandle) throws -> Void {
        func fail(_ problem: String, _ remedy: String) -> FoundryError {
            FoundryError("cannot write \(path): \(problem); \(remedy)")
        }

        // Header.
        var seen = Set<String>()
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",")
            json += "}"
            first = false
        }
        var offset = 0
        for t in tensors {
            guard t.name != "__metadata__" else {
                throw fail("a tensor may not be named __metadata__", "rename it")
            }
            guard seen.insert(t.name).inserted else {
                throw fail("tensor \(t.name) appears twice", "give each tensor a unique name")
            }
            guard t.shape.allSatisfy({ $0 >= 0 }), t.values.count == t.elementCount else {
                throw fail("tensor \(t.name) has \(t.values.count) values but shape \(t.shape) needs \(t.elementCount)",
                           "fix the shape or the values")
            }
            let end = offset + 4 * t.values.count
            if !first { json += "," }
            first = false
            json += "\(jsonString(t.name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        json += "}"
        var headerBytes = Data(json.utf8)
        let padding = (8 - headerBytes.count % 8) % 8
        headerBytes.append(contentsOf: [UInt8](repeating: 0x20, count: padding))
        var prefix = Data(count: 8)
        prefix.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(headerBytes.count).littleEndian, as: UInt64.self) }

        return { handle in
            try handle.write(contentsOf: prefix)
            try handle.write(contentsOf: headerBytes)
            for t in tensors where !t.values.isEmpty {
                try writeLittleEndian(t.values, to: handle)
            }
        }
    }

    // MARK: - Helpers

    /// A JSON number as Int (JSONSerialization may hand back Int, NSNumber or Double).
    private static func jsonInt(_ value: Any) -> Int? {
        if let i = value as? Int { return i }
        if let d = value as? Double, d.rounded() == d, abs(d) < 9.0e18 { return Int(d) }
        return nil
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped; other text as UTF-8.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Writes floats as little-endian F32 without an extra copy on little-endian hosts.
    private static func writeLittleEndian(_ values: [Float], to handle: FileHandle) throws {
        #if _endian(little)
        try values.withUnsafeBytes { raw in
            // Chunked so a huge tensor never needs a second buffer of its size.
            let chunk = 64 << 20
            var start = 0
            while start < raw.count {
                let n = min(chunk, raw.count - start)
                let piece = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: raw.baseAddress! + start),
                                 count: n, deallocator: .none)
                try handle.write(contentsOf: piece)
                start += n
            }
        }
        #else
        var swapped = Data(count: values.count * 4)
        swapped.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() {
                raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
            }
        }
        try handle.write(contentsOf: swapped)
        #endif
    }

    /// Converts little-endian raw tensor bytes of a supported dtype (size already validated) to Float.
    static func convertToFloat(_ bytes: UnsafeRawBufferPointer, dtype: String) -> [Float] {
        let size = dtypeSizes[dtype]!
        let count = bytes.count / size
        guard count > 0 else { return [] }
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            let dst = out.baseAddress!
            switch dtype {
            case "F32":
                #if _endian(little)
                memcpy(dst, bytes.baseAddress!, count * 4)
                #else
                for i in 0..<count {
                    dst[i] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
                #endif
            case "F16":
                for i in 0..<count {
                    dst[i] = halfToFloat(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            case "BF16":
                for i in 0..<count {
                    let bits = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    dst[i] = Float(bitPattern: UInt32(bits) << 16)
                }
            case "F64":
                for i in 0..<count {
                    let bits = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
                    dst[i] = Float(Double(bitPattern: bits))
                }
            case "I32":
                for i in 0..<count {
                    dst[i] = Float(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
                }
            case "I64":
                for i in 0..<count {
                    dst[i] = Float(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
                }
            default:
                preconditionFailure("unsupported dtype \(dtype) passed validation")
            }
            initialized = count
        }
    }

    /// IEEE 754 binary16 bits to Float, exactly (subnormals, infinities and NaNs included).
    /// Written by hand because `Float16` is unavailable on some of the platforms Foundry targets.
    @inline(__always)
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            if mantissa == 0 { return Float(bitPattern: sign) }
            let magnitude = Float(mantissa) * (1.0 / 16_777_216.0)  // mantissa · 2⁻²⁴
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }
}
