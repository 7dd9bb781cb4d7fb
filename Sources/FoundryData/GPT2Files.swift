import Foundation
import FoundryCore

/// OpenAI GPT-2's byte-level BPE in the two forms it ships in besides a tokenizer.json:
/// `vocab.json` + `merges.txt` (what transformers writes for GPT-2) and a tiktoken rank file
/// (`gpt2.tiktoken`: a base64 token and its rank per line). Both give the same ids as tiktoken's
/// and transformers' GPT-2 encoders (GPT-2's pre-tokenisation is `ByteLevel.split`);
/// `<|endoftext|>` is the special token.
enum GPT2Files {
    /// vocab.json (byte-level strings → ids) and merges.txt ("a b" per line, after a "#version" line).
    static func load(vocab vocabPath: String, merges mergesPath: String) throws -> Tokenizer {
        let vocabData = try DataFile.read(vocabPath, hint: "expected GPT-2's vocab.json")
        guard let root = try? JSONParser.parse(vocabData), let pairs = root.object else {
            throw FoundryError("\(vocabPath) is not a JSON object of token → id (GPT-2's vocab.json)")
        }
        var vocab: [(String, Int)] = []
        vocab.reserveCapacity(pairs.count)
        for (token, v) in pairs {
            guard let id = v.int, id >= 0, id < 1 << 24 else { throw FoundryError("\(vocabPath): the id of \(token.debugDescription) is not a small non-negative integer") }
            vocab.append((token, id))
        }
        let text = String(decoding: try DataFile.read(mergesPath, hint: "expected GPT-2's merges.txt"), as: UTF8.self)
        var merges: [(String, String)] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            if n == 0 && line.hasPrefix("#version") { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw FoundryError("\(mergesPath): line \(n + 1) is not two tokens separated by one space (GPT-2's merges.txt)")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        return try BPETokenizer(file: TokenizerFile(kind: "bpe", vocab: vocab, merges: merges, added: []), path: vocabPath)
    }

    /// A tiktoken rank file. The merges are not in it: each token of two or more bytes is the
    /// merge of the two pieces that byte-pair encoding with the lower-ranked tokens leaves of it.
    /// `<|endoftext|>` takes the id after the last rank (50256 for GPT-2).
    static func load(tiktoken path: String) throws -> Tokenizer {
        let text = String(decoding: try DataFile.read(path, hint: "expected a tiktoken rank file (base64 token, space, rank per line)"), as: UTF8.self)
        var ranks: [[UInt8]: Int] = [:], byRank: [(bytes: [UInt8], rank: Int)] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let data = Data(base64Encoded: String(parts[0])), let rank = Int(parts[1]), rank >= 0, rank < 1 << 24 else {
                throw FoundryError("\(path): line \(n + 1) is not a base64 token and a rank (a tiktoken rank file)")
            }
            let bytes = [UInt8](data)
            guard !bytes.isEmpty, ranks[bytes] == nil else { throw FoundryError("\(path): line \(n + 1) repeats or empties a token") }
            ranks[bytes] = rank
            byRank.append((bytes, rank))
        }
        byRank.sort { $0.rank < $1.rank }
        let endOfText = (byRank.last?.rank ?? -1) + 1
        var merges: [(String, String)] = []
        for (bytes, rank) in byRank where bytes.count > 1 {
            let parts = pieces(bytes, ranks: ranks, below: rank)
            guard parts.count == 2 else {
                throw FoundryError("\(path): the token of rank \(rank) is not the merge of two lower-ranked tokens: not a byte-level BPE rank file")
            }
            merges.append((ByteLevel.string(parts[0]), ByteLevel.string(parts[1])))
        }
        var vocab = byRank.map { (ByteLevel.string($0.bytes), $0.rank) }
        vocab.append((TokenizerSpecials.eos, endOfText))
        return try BPETokenizer(file: TokenizerFile(kind: "bpe", vocab: vocab, merges: merges, added: [(TokenizerSpecials.eos, endOfText)]),
                                path: path)
    }

    /// Byte-pair encoding of `bytes` using only merges into tokens ranked below `limit`.
    static func pieces(_ bytes: [UInt8], ranks: [[UInt8]: Int], below limit: Int) -> [[UInt8]] {
        var parts = bytes.map { [$0] }
        while parts.count > 1 {
            var best: (index: Int, rank: Int)?
            for i in 0..<(parts.count - 1) {
                if let r = ranks[parts[i] + parts[i + 1]], r < limit, r < (best?.rank ?? Int.max) { best = (i, r) }
            }
            guard let (i, _) = best else { break }
            parts[i] += parts[i + 1]
            parts.remove(at: i + 1)
        }
        return parts
    }
}
