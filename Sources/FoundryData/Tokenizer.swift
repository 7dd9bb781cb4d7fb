import Foundation
import FoundryCore
import FoundryFiles

/// Text ↔ token ids. Every vocabulary Foundry trains ends with its special tokens
/// (`TokenizerSpecials.foundry`: `<|endoftext|>`, `[MASK]`, `<|user|>`, `<|assistant|>`).
public protocol Tokenizer: AnyObject {
    /// "char" or "bpe".
    var kind: String { get }
    var vocabSize: Int { get }
    /// Literal occurrences of special-token strings in `text` become their special ids.
    func encode(_ text: String) throws -> [Int32]
    /// Specials render as their strings, so `decode(encode(s)) == s` exactly.
    func decode(_ ids: [Int32]) -> String
    var eosToken: Int32 { get }
    /// -1 when the vocabulary has no `[MASK]` token (e.g. a stock GPT-2 tokenizer.json).
    var maskToken: Int32 { get }
    func id(ofSpecial: String) -> Int32?
    /// Writes a Hugging Face style tokenizer.json atomically.
    /// tokenizer.json's bytes.
    func encoded() throws -> Data
}

extension Tokenizer {
    public func save(to path: String) throws { try AtomicFile.write(try encoded(), to: path) }
}

/// The special tokens Foundry appends to every vocabulary it trains, in id order.
/// `<|user|>` and `<|assistant|>` open chat turns (see `ChatTemplate`); tokenizer files written
/// before they existed still load, and `id(ofSpecial:)` returns nil for them.
public enum TokenizerSpecials {
    public static let eos = "<|endoftext|>"
    public static let mask = "[MASK]"
    public static let user = "<|user|>"
    public static let assistant = "<|assistant|>"
    public static let foundry: [String] = [eos, mask, user, assistant]
}

/// The tokenizers Foundry trains: one token per character, or byte-level BPE.
public enum TokenizerKind: String, CaseIterable, Sendable {
    case char, bpe
    /// The BPE vocabulary when none is asked for (ignored by char).
    public static let defaultVocabSize = 512
}

public enum TokenizerIO {
    /// Loads a tokenizer.json written by Foundry (char or BPE) or a Hugging Face GPT-2 style
    /// byte-level BPE tokenizer.json.
    /// Also reads OpenAI GPT-2's vocabulary: a directory with vocab.json and merges.txt, or a
    /// tiktoken rank file (`*.tiktoken`).
    public static func load(path: String) throws -> Tokenizer {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FoundryError("tokenizer file not found: \(path) (train one with `foundry tokenizer train`)")
        }
        if isDir.boolValue {
            let json = (path as NSString).appendingPathComponent("tokenizer.json")
            if FileManager.default.fileExists(atPath: json) { return try load(path: json) }   // a model directory
            let vocab = (path as NSString).appendingPathComponent("vocab.json"), merges = (path as NSString).appendingPathComponent("merges.txt")
            if FileManager.default.fileExists(atPath: vocab) && FileManager.default.fileExists(atPath: merges) {
                return try GPT2Files.load(vocab: vocab, merges: merges)
            }
            throw FoundryError("tokenizer path is a directory: \(path) (pass the tokenizer.json file inside it, or a directory with GPT-2's vocab.json and merges.txt)")
        }
        if path.hasSuffix(".tiktoken") { return try GPT2Files.load(tiktoken: path) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FoundryError("cannot read tokenizer file \(path) (check its permissions)")
        }
        let file = try TokenizerFile.parse(data, path: path)
        switch file.kind {
        case "char": return try CharTokenizer(file: file, path: path)
        default: return try BPETokenizer(file: file, path: path)
        }
    }

    /// `tokenizer` with those of `names` it lacks appended as special tokens, ids from its
    /// vocabulary size up (a pretrained tokenizer given Foundry's chat tokens). Returns the new
    /// tokenizer and the names added.
    public static func addingSpecials(_ names: [String], to tokenizer: Tokenizer) throws -> (tokenizer: Tokenizer, added: [String]) {
        let missing = names.filter { tokenizer.id(ofSpecial: $0) == nil }
        guard !missing.isEmpty else { return (tokenizer, []) }
        var file = try TokenizerFile.parse(try tokenizer.encoded(), path: "the tokenizer")
        for (i, name) in missing.enumerated() { file.added.append((name, tokenizer.vocabSize + i)) }
        let grown: Tokenizer = file.kind == "char" ? try CharTokenizer(file: file, path: "the tokenizer")
                                                   : try BPETokenizer(file: file, path: "the tokenizer")
        return (grown, missing)
    }

    /// Every token as GPT-2's byte-level text (a character vocabulary's characters as the
    /// byte-level text of their UTF-8), by id; the merges as "left right"; which ids are special.
    /// What GGUF's GPT-2 tokenizer metadata lists.
    public static func listing(_ tokenizer: Tokenizer) throws -> (tokens: [String], merges: [String], special: Set<Int>) {
        let file = try TokenizerFile.parse(try tokenizer.encoded(), path: "the tokenizer")
        var tokens = [String](repeating: "", count: tokenizer.vocabSize)
        for (text, id) in file.vocab where id < tokens.count {
            tokens[id] = file.kind == "char" ? ByteLevel.string(Array(text.utf8)) : text
        }
        var special = Set<Int>()
        for (text, id) in file.added where id < tokens.count { tokens[id] = text; special.insert(id) }
        for id in tokens.indices where tokens[id].isEmpty { tokens[id] = "[UNUSED\(id)]"; special.insert(id) }
        return (tokens, file.merges.map { "\($0.0) \($0.1)" }, special)
    }

    /// Trains a tokenizer of the given kind; `vocabSize` is ignored for `.char`.
    public static func train(kind: TokenizerKind, corpus: String, vocabSize: Int = TokenizerKind.defaultVocabSize,
                             progress: ((Int, Int) -> Void)? = nil) throws -> Tokenizer {
        switch kind {
        case .char: return CharTokenizer.train(corpus: corpus)
        case .bpe: return try BPETokenizer.train(corpus: corpus, vocabSize: vocabSize, progress: progress)
        }
    }
}

// MARK: - Special-token matching

/// Finds literal special-token strings in a scalar sequence, leftmost first, longest first.
struct SpecialMatcher {
    private let patterns: [(scalars: [UInt32], id: Int32)]
    private let firsts: [UInt32]

    init(_ specials: [(String, Int32)]) {
        patterns = specials.filter { !$0.0.isEmpty }
            .map { (Array($0.0.unicodeScalars.map(\.value)), $0.1) }
            .sorted { $0.scalars.count > $1.scalars.count }
        firsts = Array(Set(patterns.map { $0.scalars[0] }))
    }

    /// Calls `text` for each maximal run without specials and `special` for each match, in order.
    func split(_ s: [UInt32], text: (Int, Int) throws -> Void, special: (Int32) throws -> Void) rethrows {
        var runStart = 0
        var i = 0
        let n = s.count
        if patterns.isEmpty { if n > 0 { try text(0, n) }; return }
        while i < n {
            let c = s[i]
            var matched: (len: Int, id: Int32)? = nil
            if firsts.contains(c) {
                for pat in patterns where pat.scalars[0] == c && i + pat.scalars.count <= n {
                    var ok = true
                    for k in 1..<pat.scalars.count where s[i + k] != pat.scalars[k] { ok = false; break }
                    if ok { matched = (pat.scalars.count, pat.id); break }
                }
            }
            if let m = matched {
                if runStart < i { try text(runStart, i) }
                try special(m.id)
                i += m.len
                runStart = i
            } else {
                i += 1
            }
        }
        if runStart < n { try text(runStart, n) }
    }
}

// MARK: - tokenizer.json

/// The parts of a Hugging Face tokenizer.json that Foundry reads and writes.
struct TokenizerFile {
    var kind: String                      // "char" or "bpe"
    var vocab: [(String, Int)]            // model.vocab, in file order
    var merges: [(String, String)]        // model.merges, in rank order
    var added: [(String, Int)]            // added_tokens (content, id)

    func encoded() -> Data {
        let byteLevel = kind == "bpe"
        var o: [UInt8] = []
        o.reserveCapacity(vocab.count * 16 + merges.count * 16 + 1024)
        func w(_ s: String) { o.append(contentsOf: s.utf8) }
        w("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [")
        for (i, (content, id)) in added.enumerated() {
            w(i == 0 ? "\n    {" : ",\n    {")
            w("\"id\": \(id), \"content\": "); appendJSONString(content, to: &o)
            w(", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}")
        }
        w(added.isEmpty ? "],\n" : "\n  ],\n")
        w("  \"normalizer\": null,\n")
        if byteLevel {
            w("  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},\n")
        } else {
            w("  \"pre_tokenizer\": null,\n")
        }
        w("  \"post_processor\": null,\n")
        if byteLevel {
            w("  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n")
        } else {
            // Tokens are characters: decoding concatenates them (without a decoder, Hugging Face
            // tokenizers joins tokens with spaces).
            w("  \"decoder\": {\"type\": \"Fuse\"},\n")
        }
        w("  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n")
        w("    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n")
        w("    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"vocab\": {")
        for (i, (tok, id)) in vocab.enumerated() {
            w(i == 0 ? "\n      " : ",\n      ")
            appendJSONString(tok, to: &o); w(": \(id)")
        }
        w(vocab.isEmpty ? "},\n" : "\n    },\n")
        w("    \"merges\": [")
        for (i, (a, b)) in merges.enumerated() {
            w(i == 0 ? "\n      [" : ",\n      [")
            appendJSONString(a, to: &o); w(", "); appendJSONString(b, to: &o); w("]")
        }
        w(merges.isEmpty ? "]\n" : "\n    ]\n")
        w("  }\n}\n")   // no extra top-level keys: Hugging Face tokenizers rejects them
        return Data(o)
    }

    static func parse(_ data: Data, path: String) throws -> TokenizerFile {
        func bad(_ detail: String) -> FoundryError {
            FoundryError("tokenizer file \(path) is malformed: \(detail) "
                + "(retrain it with `foundry tokenizer train`, or use a GPT-2 style tokenizer.json)")
        }
        let root: JSONValue
        do { root = try JSONParser.parse(data) } catch let e as JSONParseError {
            throw FoundryError("tokenizer file \(path) is not valid JSON: \(e.message) at byte \(e.offset) "
                + "(retrain it with `foundry tokenizer train`, or use a GPT-2 style tokenizer.json)")
        }
        let maxVocab = 1 << 24
        guard root.object != nil else { throw bad("top level is not a JSON object") }
        guard let model = root["model"], model.object != nil else { throw bad("missing \"model\" object") }
        if let t = model["type"], !t.isNull, t.string != "BPE" {
            throw FoundryError("tokenizer file \(path) uses model type \(t.string.map { "'\($0)'" } ?? "?"), "
                + "which Foundry cannot load (only BPE / byte-level BPE tokenizer.json files are supported)")
        }
        guard let vocabPairs = model["vocab"]?.object else { throw bad("missing \"model.vocab\" object") }
        var vocab: [(String, Int)] = []
        vocab.reserveCapacity(vocabPairs.count)
        for (tok, v) in vocabPairs {
            guard let id = v.int, id >= 0, id < maxVocab else {
                throw bad("vocab entry \(debugQuote(tok)) has no valid integer id")
            }
            vocab.append((tok, id))
        }
        var merges: [(String, String)] = []
        if let m = model["merges"], !m.isNull {
            guard let arr = m.array else { throw bad("\"model.merges\" is not an array") }
            merges.reserveCapacity(arr.count)
            for (i, item) in arr.enumerated() {
                if let s = item.string {
                    let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                        throw bad("merge #\(i) \(debugQuote(s)) is not of the form \"a b\"")
                    }
                    merges.append((String(parts[0]), String(parts[1])))
                } else if let pair = item.array, pair.count == 2, let a = pair[0].string, let b = pair[1].string {
                    merges.append((a, b))
                } else {
                    throw bad("merge #\(i) is neither \"a b\" nor [\"a\", \"b\"]")
                }
            }
        }
        var added: [(String, Int)] = []
        if let a = root["added_tokens"], !a.isNull {
            guard let arr = a.array else { throw bad("\"added_tokens\" is not an array") }
            for (i, item) in arr.enumerated() {
                guard let content = item["content"]?.string, let id = item["id"]?.int, id >= 0, id < maxVocab else {
                    throw bad("added_tokens[\(i)] needs a string \"content\" and an integer \"id\"")
                }
                added.append((content, id))
            }
        }
        let kind: String
        if let f = root["foundry"], !f.isNull {
            guard let k = f["kind"]?.string else { throw bad("\"foundry.kind\" is missing") }
            guard k == "char" || k == "bpe" else { throw bad("unknown \"foundry.kind\" '\(k)' (expected char or bpe)") }
            kind = k
        } else if isByteLevel(root["pre_tokenizer"]) || isByteLevel(root["decoder"]) {
            kind = "bpe"
        } else if merges.isEmpty, !vocab.isEmpty, vocab.allSatisfy({ tok, id in
            added.contains { $0.1 == id } || tok.unicodeScalars.count == 1
        }) {
            kind = "char"  // one scalar per token and nothing to merge: a character-level vocabulary
        } else {
            throw FoundryError("tokenizer file \(path) is neither Foundry's (no \"foundry\" section) nor a byte-level BPE tokenizer "
                + "(no ByteLevel pre_tokenizer), so it may be damaged: retrain it with `foundry tokenizer train`, or use a GPT-2 style tokenizer.json")
        }
        return TokenizerFile(kind: kind, vocab: vocab, merges: merges, added: added)
    }

    private static func isByteLevel(_ v: JSONValue?) -> Bool {
        guard let v else { return false }
        if v["type"]?.string == "ByteLevel" { return true }
        for key in ["pretokenizers", "decoders"] {
            if let list = v[key]?.array, list.contains(where: { $0["type"]?.string == "ByteLevel" }) { return true }
        }
        return false
    }
}

/// `'x'` for printable text, with U+XXXX for a single odd scalar.
func debugQuote(_ s: String) -> String {
    let scalars = Array(s.unicodeScalars)
    if scalars.count == 1 { return describeScalar(scalars[0]) }
    return "'" + s.unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined() + "'"
}

/// "U+00E9 'é'" (control characters shown escaped).
func describeScalar(_ u: Unicode.Scalar) -> String {
    let hex = String(u.value, radix: 16, uppercase: true)
    let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    let shown: String
    switch u.properties.generalCategory {
    case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned, .privateUse:
        shown = u.escaped(asASCII: true)
    default:
        shown = String(u)
    }
    return "\(code) '\(shown)'"
}
