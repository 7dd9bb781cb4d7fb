import Foundation

/// A small JSON reader/writer. Objects keep their keys in file order and are never
/// collapsed by Swift's canonical string equality (tokenizer vocabularies may hold
/// distinct but canonically equivalent strings, e.g. U+212B and U+00C5).
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public subscript(key: String) -> JSONValue? {
        guard case .object(let pairs) = self else { return nil }
        for (k, v) in pairs where k == key { return v }
        return nil
    }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var object: [(String, JSONValue)]? { if case .object(let o) = self { return o }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }
    public var number: Double? { if case .number(let d) = self { return d }; return nil }
    public var int: Int? {
        guard case .number(let d) = self, d.rounded() == d, abs(d) < 9e15 else { return nil }
        return Int(d)
    }
}

extension JSONValue {
    /// One line of JSON, objects in their field order: the one writer of Foundry's own rows
    /// (datasets, rankings, metrics.jsonl). Integral numbers are written without a fraction,
    /// others in Swift's shortest round-trip form, non-finite ones as null.
    public func encoded() -> [UInt8] {
        var o: [UInt8] = []
        write(to: &o)
        return o
    }

    /// The same as text.
    public var line: String { String(decoding: encoded(), as: UTF8.self) }

    func write(to o: inout [UInt8]) {
        switch self {
        case .null: o += Array("null".utf8)
        case .bool(let b): o += Array((b ? "true" : "false").utf8)
        case .number(let d):
            if !d.isFinite { o += Array("null".utf8) }
            else if d == 0 { o += Array((d.sign == .minus ? "-0" : "0").utf8) }
            else if d.rounded() == d && abs(d) <= 1e15 { o += Array(String(Int64(d)).utf8) }
            else { o += Array("\(d)".utf8) }
        case .string(let s): appendJSONString(s, to: &o)
        case .array(let a):
            o.append(UInt8(ascii: "["))
            for (i, x) in a.enumerated() { if i > 0 { o += Array(", ".utf8) }; x.write(to: &o) }
            o.append(UInt8(ascii: "]"))
        case .object(let pairs):
            o.append(UInt8(ascii: "{"))
            for (i, (k, x)) in pairs.enumerated() {
                if i > 0 { o += Array(", ".utf8) }
                appendJSONString(k, to: &o); o += Array(": ".utf8); x.write(to: &o)
            }
            o.append(UInt8(ascii: "}"))
        }
    }
}

public struct JSONParseError: Error {
    public let message: String
    public let offset: Int
}

public struct JSONParser {
    private let b: [UInt8]
    private var p = 0
    private var depth = 0

    public static func parse(_ data: Data) throws -> JSONValue {
        // A UTF-8 byte-order mark (some editors on Windows add one) is not part of the JSON.
        let bytes = [UInt8](data)
        var parser = JSONParser(b: bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes)
        parser.skipWS()
        let v = try parser.value()
        parser.skipWS()
        if parser.p != parser.b.count { throw JSONParseError(message: "unexpected trailing data", offset: parser.p) }
        return v
    }

    private init(b: [UInt8]) { self.b = b }

    private func fail(_ m: String) -> JSONParseError { JSONParseError(message: m, offset: p) }

    private mutating func skipWS() {
        while p < b.count, b[p] == 0x20 || b[p] == 0x0A || b[p] == 0x0D || b[p] == 0x09 { p += 1 }
    }

    private mutating func value() throws -> JSONValue {
        guard p < b.count else { throw fail("unexpected end of file") }
        switch b[p] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character '\(Character(Unicode.Scalar(b[p])))'")
        }
    }

    private mutating func literal(_ word: String) throws {
        for c in word.utf8 {
            guard p < b.count, b[p] == c else { throw fail("invalid literal (expected \(word))") }
            p += 1
        }
    }

    private mutating func number() throws -> JSONValue {
        let start = p
        if b[p] == UInt8(ascii: "-") { p += 1 }
        while p < b.count {
            let c = b[p]
            if (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: ".") || c == UInt8(ascii: "e")
                || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                p += 1
            } else { break }
        }
        let text = String(decoding: b[start..<p], as: UTF8.self)
        guard let d = Double(text) else { p = start; throw fail("invalid number '\(text)'") }
        return .number(d)
    }

    private mutating func hex4() throws -> UInt32 {
        guard p + 4 <= b.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[p]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            p += 1
        }
        return v
    }

    private mutating func string() throws -> String {
        p += 1  // opening quote
        var out: [UInt8] = []
        var start = p
        while true {
            guard p < b.count else { throw fail("unterminated string") }
            let c = b[p]
            if c == UInt8(ascii: "\"") {
                if out.isEmpty { let s = String(decoding: b[start..<p], as: UTF8.self); p += 1; return s }
                out.append(contentsOf: b[start..<p]); p += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c != UInt8(ascii: "\\") { p += 1; continue }
            out.append(contentsOf: b[start..<p])
            p += 1
            guard p < b.count else { throw fail("unterminated string") }
            let e = b[p]; p += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var v = try hex4()
                if v >= 0xD800 && v < 0xDC00 {
                    // High surrogate: combine with a following low surrogate when present.
                    if p + 6 <= b.count, b[p] == UInt8(ascii: "\\"), b[p + 1] == UInt8(ascii: "u") {
                        let save = p
                        p += 2
                        let lo = try hex4()
                        if lo >= 0xDC00 && lo < 0xE000 {
                            v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                        } else { p = save; v = 0xFFFD }
                    } else { v = 0xFFFD }
                } else if v >= 0xDC00 && v < 0xE000 {
                    v = 0xFFFD
                }
                appendUTF8(v, to: &out)
            default: throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
            }
            start = p
        }
    }

    private mutating func array() throws -> JSONValue {
        depth += 1
        if depth > 512 { throw fail("nesting too deep") }
        defer { depth -= 1 }
        p += 1
        var items: [JSONValue] = []
        skipWS()
        if p < b.count, b[p] == UInt8(ascii: "]") { p += 1; return .array(items) }
        while true {
            skipWS()
            items.append(try value())
            skipWS()
            guard p < b.count else { throw fail("unterminated array") }
            if b[p] == UInt8(ascii: ",") { p += 1; continue }
            if b[p] == UInt8(ascii: "]") { p += 1; return .array(items) }
            throw fail("expected ',' or ']'")
        }
    }

    private mutating func object() throws -> JSONValue {
        depth += 1
        if depth > 512 { throw fail("nesting too deep") }
        defer { depth -= 1 }
        p += 1
        var pairs: [(String, JSONValue)] = []
        skipWS()
        if p < b.count, b[p] == UInt8(ascii: "}") { p += 1; return .object(pairs) }
        while true {
            skipWS()
            guard p < b.count, b[p] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let k = try string()
            skipWS()
            guard p < b.count, b[p] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            p += 1
            skipWS()
            pairs.append((k, try value()))
            skipWS()
            guard p < b.count else { throw fail("unterminated object") }
            if b[p] == UInt8(ascii: ",") { p += 1; continue }
            if b[p] == UInt8(ascii: "}") { p += 1; return .object(pairs) }
            throw fail("expected ',' or '}'")
        }
    }
}

/// Appends the JSON string literal for `s` (quotes included); non-ASCII stays raw UTF-8.
func appendJSONString(_ s: String, to out: inout [UInt8]) {
    out.append(0x22)
    for c in s.utf8 {
        switch c {
        case 0x22: out.append(0x5C); out.append(0x22)
        case 0x5C: out.append(0x5C); out.append(0x5C)
        case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
        case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
        case 0..<0x20, 0x7F:
            let hex = Array("0123456789abcdef".utf8)
            out.append(contentsOf: Array("\\u00".utf8))
            out.append(hex[Int(c >> 4)]); out.append(hex[Int(c & 15)])
        default: out.append(c)
        }
    }
    out.append(0x22)
}

/// UTF-8 encoding of one scalar value.
@inline(__always)
func appendUTF8(_ v: UInt32, to out: inout [UInt8]) {
    if v < 0x80 {
        out.append(UInt8(v))
    } else if v < 0x800 {
        out.append(UInt8(0xC0 | (v >> 6))); out.append(UInt8(0x80 | (v & 0x3F)))
    } else if v < 0x10000 {
        out.append(UInt8(0xE0 | (v >> 12))); out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (v & 0x3F)))
    } else {
        out.append(UInt8(0xF0 | (v >> 18))); out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
        out.append(UInt8(0x80 | ((v >> 6) & 0x3F))); out.append(UInt8(0x80 | (v & 0x3F)))
    }
}
