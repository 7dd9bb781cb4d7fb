import Foundation
import FoundryCore

/// One token per Unicode scalar seen in the training corpus, then the special tokens.
public final class CharTokenizer: Tokenizer {
    public let kind = "char"
    /// Scalar of each id that is not a special (nil for special ids and gaps).
    public let scalars: [Unicode.Scalar?]
    /// Special-token strings with their ids, in id order.
    public let specials: [(String, Int32)]
    public let vocabSize: Int
    public let eosToken: Int32
    public let maskToken: Int32

    private let idOfScalar: [UInt32: Int32]
    private let matcher: SpecialMatcher
    private let pieces: [String]

    /// Vocabulary = the corpus's unique scalars sorted by value, then the special tokens (`<|endoftext|>`, `[MASK]`, `<|user|>`, `<|assistant|>`).
    public static func train(corpus: String) -> CharTokenizer {
        var seen = Set<UInt32>()
        for u in corpus.unicodeScalars { seen.insert(u.value) }
        let chars = seen.sorted().map { Unicode.Scalar($0)! }
        return CharTokenizer(chars: chars, specials: TokenizerSpecials.foundry)
    }

    /// Ids 0..<chars.count are `chars`, followed by `specials`.
    public convenience init(chars: [Unicode.Scalar], specials: [String] = TokenizerSpecials.foundry) {
        let n = chars.count
        self.init(scalars: chars.map { Optional($0) },
                  specials: specials.enumerated().map { ($0.element, Int32(n + $0.offset)) })
    }

    init(scalars: [Unicode.Scalar?], specials: [(String, Int32)]) {
        var table = scalars
        let top = (specials.map { Int($0.1) }.max() ?? -1) + 1
        if table.count < top { table += [Unicode.Scalar?](repeating: nil, count: top - table.count) }
        for (_, id) in specials { table[Int(id)] = nil }
        self.scalars = table
        self.specials = specials.sorted { $0.1 < $1.1 }
        vocabSize = table.count
        var map: [UInt32: Int32] = [:]
        for (i, u) in table.enumerated() { if let u { map[u.value] = Int32(i) } }
        idOfScalar = map
        matcher = SpecialMatcher(specials)
        eosToken = specials.first { $0.0 == TokenizerSpecials.eos }?.1 ?? -1
        maskToken = specials.first { $0.0 == TokenizerSpecials.mask }?.1 ?? -1
        var p = table.map { $0.map { String($0) } ?? "" }
        for (s, id) in specials { p[Int(id)] = s }
        pieces = p
    }

    convenience init(file: TokenizerFile, path: String) throws {
        var addedIds = Set<Int>()
        var specials: [(String, Int32)] = []
        for (content, id) in file.added where !addedIds.contains(id) {
            addedIds.insert(id)
            specials.append((content, Int32(id)))
        }
        let addedContents = Set(file.added.map { $0.0.unicodeScalars.map(\.value) })
        var table: [Unicode.Scalar?] = []
        var used = Set<UInt32>()
        for (tok, id) in file.vocab {
            if addedIds.contains(id) || addedContents.contains(tok.unicodeScalars.map(\.value)) { continue }
            let us = Array(tok.unicodeScalars)
            guard us.count == 1 else {
                throw FoundryError("tokenizer file \(path) is malformed: char vocab entry \(debugQuote(tok)) is not a "
                    + "single character (retrain it with `foundry tokenizer train --tokenizer char`)")
            }
            guard !used.contains(us[0].value) else {
                throw FoundryError("tokenizer file \(path) is malformed: character \(describeScalar(us[0])) appears twice "
                    + "in the vocab (retrain it with `foundry tokenizer train --tokenizer char`)")
            }
            used.insert(us[0].value)
            if table.count <= id { table += [Unicode.Scalar?](repeating: nil, count: id + 1 - table.count) }
            table[id] = us[0]
        }
        self.init(scalars: table, specials: specials)
        if eosToken < 0 {
            throw FoundryError("tokenizer file \(path) has no \(TokenizerSpecials.eos) token "
                + "(retrain it with `foundry tokenizer train`)")
        }
    }

    public func encode(_ text: String) throws -> [Int32] {
        let s = text.unicodeScalars.map(\.value)
        var out: [Int32] = []
        out.reserveCapacity(s.count)
        try matcher.split(s, text: { lo, hi in
            for i in lo..<hi {
                guard let id = idOfScalar[s[i]] else {
                    throw FoundryError("character \(describeScalar(Unicode.Scalar(s[i])!)) is not in the char tokenizer's "
                        + "vocabulary (retrain the tokenizer on text that contains it, or use `--tokenizer bpe`)")
                }
                out.append(id)
            }
        }, special: { out.append($0) })
        return out
    }

    public func decode(_ ids: [Int32]) -> String {
        var out = String.UnicodeScalarView()
        for id in ids {
            if id >= 0, Int(id) < pieces.count, !pieces[Int(id)].isEmpty {
                out.append(contentsOf: pieces[Int(id)].unicodeScalars)
            } else {
                out.append("\u{FFFD}")
            }
        }
        return String(out)
    }

    public func id(ofSpecial name: String) -> Int32? {
        specials.first { $0.0.unicodeScalars.elementsEqual(name.unicodeScalars) }?.1
    }

    public func encoded() throws -> Data {
        var vocab: [(String, Int)] = []
        for (i, p) in pieces.enumerated() where !p.isEmpty { vocab.append((p, i)) }
        let file = TokenizerFile(kind: "char", vocab: vocab, merges: [],
                                 added: specials.map { ($0.0, Int($0.1)) })
        return file.encoded()
    }
}
