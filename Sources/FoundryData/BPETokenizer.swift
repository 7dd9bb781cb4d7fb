import Foundation
import FoundryCore

/// Byte-level BPE in the manner of GPT-2: text → UTF-8 bytes → pieces (GPT-2 pre-tokenisation)
/// → merges applied by rank. Any string round-trips exactly.
public final class BPETokenizer: Tokenizer {
    public let kind = "bpe"
    public let vocabSize: Int
    public let eosToken: Int32
    public let maskToken: Int32
    /// Special-token strings with their ids, in id order.
    public let specials: [(String, Int32)]
    /// Merge rules in rank order: (left id, right id, result id).
    public let merges: [(Int32, Int32, Int32)]

    private let tokenBytes: [[UInt8]]       // bytes of each id (specials: their UTF-8)
    private let present: [Bool]             // false for gaps in the id space
    private let isSpecial: [Bool]
    private let byteId: [Int32]             // id of each single byte, -1 when absent
    private let ranks: [UInt64: UInt64]     // pair key → rank << 32 | result id
    private let matcher: SpecialMatcher
    private var cache: [[UInt8]: [Int32]] = [:]
    private let cacheLock = NSLock()

    @inline(__always) static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    init(tokens: [[UInt8]?], merges: [(Int32, Int32, Int32)], specials: [(String, Int32)]) {
        var tb = tokens.map { $0 ?? [] }
        var pr = tokens.map { $0 != nil }
        let top = (specials.map { Int($0.1) }.max() ?? -1) + 1
        if tb.count < top {
            tb += [[UInt8]](repeating: [], count: top - tb.count)
            pr += [Bool](repeating: false, count: top - pr.count)
        }
        var sp = [Bool](repeating: false, count: tb.count)
        for (s, id) in specials { tb[Int(id)] = Array(s.utf8); pr[Int(id)] = true; sp[Int(id)] = true }
        var bid = [Int32](repeating: -1, count: 256)
        for (i, t) in tb.enumerated() where pr[i] && !sp[i] && t.count == 1 && bid[Int(t[0])] < 0 {
            bid[Int(t[0])] = Int32(i)
        }
        var r: [UInt64: UInt64] = [:]
        r.reserveCapacity(merges.count)
        for (rank, m) in merges.enumerated() {
            let k = BPETokenizer.key(m.0, m.1)
            if r[k] == nil { r[k] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: m.2)) }
        }
        tokenBytes = tb; present = pr; isSpecial = sp; byteId = bid; ranks = r
        self.merges = merges
        self.specials = specials.sorted { $0.1 < $1.1 }
        vocabSize = tb.count
        matcher = SpecialMatcher(specials)
        eosToken = specials.first { $0.0 == TokenizerSpecials.eos }?.1 ?? -1
        maskToken = specials.first { $0.0 == TokenizerSpecials.mask }?.1 ?? -1
    }

    // MARK: Training

    /// Learns merges on `corpus` until the vocabulary (256 bytes + merges + the special tokens) reaches
    /// `vocabSize`, or no pair is left to merge. Ties go to the highest count, then the smallest
    /// (left id, right id). `progress(done, total)` reports merges learned.
    public static func train(corpus: String, vocabSize: Int,
                             progress: ((Int, Int) -> Void)? = nil) throws -> BPETokenizer {
        let specialNames = TokenizerSpecials.foundry
        let minimum = 256 + specialNames.count
        guard vocabSize >= minimum else {
            throw FoundryError("BPE vocab size \(vocabSize) is too small: it must be at least \(minimum) "
                + "(256 bytes + \(specialNames.count) special tokens); pass a larger vocab size")
        }
        let target = vocabSize - specialNames.count
        let totalMerges = target - 256

        // 1. Unique pieces with counts (special-token strings in the corpus are not learned from).
        let s = corpus.unicodeScalars.map(\.value)
        var pieceCounts: [[UInt8]: Int] = [:]
        var buf: [UInt8] = []
        SpecialMatcher(specialNames.map { ($0, 0) }).split(s, text: { lo, hi in
            PreTokenizer.split(s, lo, hi) { a, b in
                buf.removeAll(keepingCapacity: true)
                for k in a..<b { appendUTF8(s[k], to: &buf) }
                pieceCounts[buf, default: 0] += 1
            }
        }, special: { _ in })
        // Sorted so the work order (not just the result) is reproducible.
        let sortedPieces = pieceCounts.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        var words: [[Int32]] = sortedPieces.map { $0.key.map { Int32($0) } }
        let counts: [Int] = sortedPieces.map { $0.value }
        pieceCounts = [:]

        // 2. Initial pair counts and where each pair occurs.
        var pairCount: [UInt64: Int] = [:]
        var pairWords: [UInt64: [Int32]] = [:]
        for (w, word) in words.enumerated() where word.count > 1 {
            for i in 0..<(word.count - 1) {
                let k = key(word[i], word[i + 1])
                pairCount[k, default: 0] += counts[w]
                pairWords[k, default: []].appendUnlessLast(Int32(w))
            }
        }
        var heap = PairHeap(pairCount.map { ($0.value, $0.key) })

        // 3. Merge the best pair, updating counts only for the words that contain it.
        var tokens: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        var idOfBytes: [[UInt8]: Int32] = [:]
        for (i, t) in tokens.enumerated() { idOfBytes[t] = Int32(i) }
        var merges: [(Int32, Int32, Int32)] = []
        var merged = Set<UInt64>()
        var stamp = [Int](repeating: -1, count: words.count)
        var round = 0
        let step = max(1, totalMerges / 100)
        var reported = 0
        while tokens.count < target, let top = heap.pop() {
            guard let current = pairCount[top.key], current == top.count else { continue }  // stale entry
            round += 1
            let a = Int32(truncatingIfNeeded: top.key >> 32), b = Int32(truncatingIfNeeded: top.key & 0xFFFF_FFFF)
            let joined = tokens[Int(a)] + tokens[Int(b)]
            let newId: Int32
            if let existing = idOfBytes[joined] {
                newId = existing
            } else {
                newId = Int32(tokens.count)
                tokens.append(joined)
                idOfBytes[joined] = newId
            }
            if merged.insert(top.key).inserted { merges.append((a, b, newId)) }

            var delta: [UInt64: Int] = [:]
            for w32 in pairWords.removeValue(forKey: top.key) ?? [] {
                let w = Int(w32)
                if stamp[w] == round { continue }
                stamp[w] = round
                let old = words[w]
                var new: [Int32] = []
                new.reserveCapacity(old.count)
                var i = 0
                var changed = false
                while i < old.count {
                    if i + 1 < old.count && old[i] == a && old[i + 1] == b {
                        new.append(newId); i += 2; changed = true
                    } else {
                        new.append(old[i]); i += 1
                    }
                }
                if !changed { continue }
                let c = counts[w]
                for i in 0..<(old.count - 1) { delta[key(old[i], old[i + 1]), default: 0] -= c }
                if new.count > 1 {
                    for i in 0..<(new.count - 1) {
                        let k = key(new[i], new[i + 1])
                        delta[k, default: 0] += c
                        if new[i] == newId || new[i + 1] == newId { pairWords[k, default: []].appendUnlessLast(w32) }
                    }
                }
                words[w] = new
            }
            for (k, d) in delta where d != 0 {
                let v = pairCount[k, default: 0] + d
                if v <= 0 {
                    pairCount.removeValue(forKey: k)
                } else {
                    pairCount[k] = v
                    heap.push(v, k)
                }
            }
            pairCount.removeValue(forKey: top.key)
            let done = tokens.count - 256
            if let progress, done != reported, done % step == 0 || done == totalMerges {
                reported = done
                progress(done, totalMerges)
            }
        }
        let base = tokens.count
        return BPETokenizer(tokens: tokens.map { Optional($0) }, merges: merges,
                            specials: specialNames.enumerated().map { ($0.element, Int32(base + $0.offset)) })
    }

    /// GPT-2 pre-tokenisation of `text` (specials not split out): the pieces merges never cross.
    public static func preTokenize(_ text: String) -> [String] {
        let s = text.unicodeScalars.map(\.value)
        var pieces: [String] = []
        PreTokenizer.split(s, 0, s.count) { a, b in
            var v = String.UnicodeScalarView()
            for k in a..<b { v.append(Unicode.Scalar(s[k])!) }
            pieces.append(String(v))
        }
        return pieces
    }

    // MARK: Loading / saving

    convenience init(file: TokenizerFile, path: String) throws {
        func bad(_ detail: String) -> FoundryError {
            FoundryError("tokenizer file \(path) is malformed: \(detail) "
                + "(retrain it with `foundry tokenizer train`, or use a GPT-2 style tokenizer.json)")
        }
        var specials: [(String, Int32)] = []
        var specialIds = Set<Int>()
        for (content, id) in file.added where !specialIds.contains(id) {
            specialIds.insert(id)
            specials.append((content, Int32(id)))
        }
        var tokens: [[UInt8]?] = []
        var idOf: [[UInt8]: Int32] = [:]
        idOf.reserveCapacity(file.vocab.count)
        for (tok, id) in file.vocab {
            if tokens.count <= id { tokens += [[UInt8]?](repeating: nil, count: id + 1 - tokens.count) }
            if specialIds.contains(id) { continue }
            let bytes = ByteLevel.bytes(tok) ?? Array(tok.utf8)
            tokens[id] = bytes
            if idOf[bytes] == nil { idOf[bytes] = Int32(id) }
        }
        // A stock file may list <|endoftext|> only in the vocab: it is still special.
        if !specials.contains(where: { $0.0 == TokenizerSpecials.eos }),
           let id = idOf[Array(TokenizerSpecials.eos.utf8)] {
            specials.append((TokenizerSpecials.eos, id))
        }
        guard specials.contains(where: { $0.0 == TokenizerSpecials.eos }) else {
            throw FoundryError("tokenizer file \(path) has no \(TokenizerSpecials.eos) token "
                + "(retrain it with `foundry tokenizer train`, or use a GPT-2 style tokenizer.json)")
        }
        var merges: [(Int32, Int32, Int32)] = []
        merges.reserveCapacity(file.merges.count)
        for (i, (l, r)) in file.merges.enumerated() {
            let lb = ByteLevel.bytes(l) ?? Array(l.utf8), rb = ByteLevel.bytes(r) ?? Array(r.utf8)
            guard let li = idOf[lb], let ri = idOf[rb], let res = idOf[lb + rb] else {
                throw bad("merge #\(i) (\(debugQuote(l)), \(debugQuote(r))) uses or makes a token missing from the vocab")
            }
            merges.append((li, ri, res))
        }
        self.init(tokens: tokens, merges: merges, specials: specials)
    }

    public func encoded() throws -> Data {
        var vocab: [(String, Int)] = []
        vocab.reserveCapacity(vocabSize)
        let specialName = Dictionary(specials.map { (Int($0.1), $0.0) }, uniquingKeysWith: { a, _ in a })
        for i in 0..<vocabSize where present[i] {
            vocab.append((isSpecial[i] ? specialName[i]! : ByteLevel.string(tokenBytes[i]), i))
        }
        let m = merges.map { (ByteLevel.string(tokenBytes[Int($0.0)]), ByteLevel.string(tokenBytes[Int($0.1)])) }
        let file = TokenizerFile(kind: "bpe", vocab: vocab, merges: m, added: specials.map { ($0.0, Int($0.1)) })
        return file.encoded()
    }

    // MARK: Encoding

    public func encode(_ text: String) throws -> [Int32] {
        let s = text.unicodeScalars.map(\.value)
        var out: [Int32] = []
        out.reserveCapacity(s.count / 3 + 8)
        var buf: [UInt8] = []
        try matcher.split(s, text: { lo, hi in
            try PreTokenizer.split(s, lo, hi) { a, b in
                buf.removeAll(keepingCapacity: true)
                for k in a..<b { appendUTF8(s[k], to: &buf) }
                cacheLock.lock()
                let hit = cache[buf]
                cacheLock.unlock()
                if let hit { out.append(contentsOf: hit); return }
                let ids = try bpe(buf)
                cacheLock.lock()
                if cache.count >= 100_000 { cache.removeAll(keepingCapacity: true) }
                cache[buf] = ids
                cacheLock.unlock()
                out.append(contentsOf: ids)
            }
        }, special: { out.append($0) })
        return out
    }

    /// Merges one piece's bytes: repeatedly apply the lowest-ranked adjacent pair.
    private func bpe(_ bytes: [UInt8]) throws -> [Int32] {
        var syms = [Int32]()
        syms.reserveCapacity(bytes.count)
        for b in bytes {
            let id = byteId[Int(b)]
            guard id >= 0 else {
                throw FoundryError(String(format: "byte 0x%02X has no token in this BPE vocabulary ", b)
                    + "(use a byte-level tokenizer that covers all 256 bytes, e.g. one from `foundry tokenizer train`)")
            }
            syms.append(id)
        }
        while syms.count > 1 {
            var best = UInt64.max
            var at = -1
            for i in 0..<(syms.count - 1) {
                if let r = ranks[BPETokenizer.key(syms[i], syms[i + 1])], r < best { best = r; at = i }
            }
            if at < 0 { break }
            let a = syms[at], b = syms[at + 1]
            let result = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            var merged = [Int32]()
            merged.reserveCapacity(syms.count - 1)
            merged.append(contentsOf: syms[0..<at])
            var i = at
            while i < syms.count {
                if i + 1 < syms.count && syms[i] == a && syms[i + 1] == b {
                    merged.append(result); i += 2
                } else {
                    merged.append(syms[i]); i += 1
                }
            }
            syms = merged
        }
        return syms
    }

    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids {
            if id >= 0, Int(id) < vocabSize, present[Int(id)] {
                bytes.append(contentsOf: tokenBytes[Int(id)])
            } else {
                bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])  // U+FFFD
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The raw bytes of one token (a special's UTF-8), or nil for an id outside the vocabulary.
    public func bytes(of id: Int32) -> [UInt8]? {
        guard id >= 0, Int(id) < vocabSize, present[Int(id)] else { return nil }
        return tokenBytes[Int(id)]
    }

    public func id(ofSpecial name: String) -> Int32? {
        specials.first { $0.0.unicodeScalars.elementsEqual(name.unicodeScalars) }?.1
    }
}

/// Max-heap of (count, pair) ordered by count, then by the smaller pair key.
struct PairHeap {
    private var items: [(count: Int, key: UInt64)]

    init(_ initial: [(Int, UInt64)]) {
        items = initial.map { (count: $0.0, key: $0.1) }
        if items.count > 1 { for i in stride(from: items.count / 2 - 1, through: 0, by: -1) { down(i) } }
    }

    @inline(__always) private func better(_ x: Int, _ y: Int) -> Bool {
        items[x].count > items[y].count || (items[x].count == items[y].count && items[x].key < items[y].key)
    }

    mutating func push(_ count: Int, _ key: UInt64) {
        items.append((count, key))
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if !better(i, p) { break }
            items.swapAt(i, p); i = p
        }
    }

    mutating func pop() -> (count: Int, key: UInt64)? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty { items[0] = last; down(0) }
        return first
    }

    private mutating func down(_ start: Int) {
        var i = start
        let n = items.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && better(l, m) { m = l }
            if r < n && better(r, m) { m = r }
            if m == i { return }
            items.swapAt(i, m); i = m
        }
    }
}

extension Array where Element == Int32 {
    @inline(__always) mutating func appendUnlessLast(_ v: Int32) {
        if last != v { append(v) }
    }
}
