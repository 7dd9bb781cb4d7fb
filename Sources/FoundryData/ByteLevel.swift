import Foundation

/// GPT-2's reversible byte ↔ printable-scalar mapping: printable Latin-1 bytes map to
/// themselves, every other byte to U+0100 and up, in byte order.
enum ByteLevel {
    static let byteToScalar: [UInt32] = {
        var printable = [Bool](repeating: false, count: 256)
        for b in 0x21...0x7E { printable[b] = true }
        for b in 0xA1...0xAC { printable[b] = true }
        for b in 0xAE...0xFF { printable[b] = true }
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if printable[b] { table[b] = UInt32(b) } else { table[b] = next; next += 1 }
        }
        return table
    }()

    static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, u) in byteToScalar.enumerated() { map[u] = UInt8(b) }
        return map
    }()

    /// The byte-level token string of `bytes` (as written in tokenizer.json).
    static func string(_ bytes: [UInt8]) -> String {
        var v = String.UnicodeScalarView()
        for b in bytes { v.append(Unicode.Scalar(byteToScalar[Int(b)])!) }
        return String(v)
    }

    /// The bytes of a byte-level token string; nil when a scalar is outside the mapping.
    static func bytes(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.unicodeScalars.count)
        for u in s.unicodeScalars {
            guard let b = scalarToByte[u.value] else { return nil }
            out.append(b)
        }
        return out
    }
}

/// GPT-2's pre-tokenisation, written out by hand over Unicode scalars. Equivalent to the pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
/// Every scalar lands in exactly one piece, so the pieces concatenate back to the input.
enum PreTokenizer {
    enum Class: UInt8 { case letter, number, space, other }

    @inline(__always)
    static func classify(_ v: UInt32) -> Class {
        if v < 0x80 {
            if (v &- 0x61) < 26 || (v &- 0x41) < 26 { return .letter }
            if (v &- 0x30) < 10 { return .number }
            if v == 0x20 || (v &- 0x09) < 5 { return .space }
            return .other
        }
        return classifySlow(v)
    }

    static func classifySlow(_ v: UInt32) -> Class {
        guard let u = Unicode.Scalar(v) else { return .other }
        let p = u.properties
        if p.isWhitespace { return .space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// Calls `emit(start, end)` for each piece of `s[lo..<hi]`, in order.
    static func split(_ s: [UInt32], _ lo: Int, _ hi: Int, _ emit: (Int, Int) throws -> Void) rethrows {
        let apostrophe: UInt32 = 0x27, space: UInt32 = 0x20
        var i = lo
        while i < hi {
            let c = s[i]
            // 's 't 're 've 'm 'll 'd
            if c == apostrophe, i + 1 < hi {
                let n1 = s[i + 1]
                if n1 == 0x73 || n1 == 0x74 || n1 == 0x6D || n1 == 0x64 { try emit(i, i + 2); i += 2; continue }
                if i + 2 < hi {
                    let n2 = s[i + 2]
                    if (n1 == 0x72 && n2 == 0x65) || (n1 == 0x76 && n2 == 0x65) || (n1 == 0x6C && n2 == 0x6C) {
                        try emit(i, i + 3); i += 3; continue
                    }
                }
            }
            var cls = classify(c)
            var runStart = i
            if c == space, i + 1 < hi {
                let nc = classify(s[i + 1])
                if nc != .space { cls = nc; runStart = i + 1 }
            }
            if cls != .space {
                // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
                var j = runStart + 1
                while j < hi, classify(s[j]) == cls { j += 1 }
                try emit(i, j)
                i = j
                continue
            }
            // `\s+(?!\S)` then `\s+`
            var j = i + 1
            while j < hi, classify(s[j]) == .space { j += 1 }
            if j < hi, j - i >= 2 { j -= 1 }
            try emit(i, j)
            i = j
        }
    }
}
