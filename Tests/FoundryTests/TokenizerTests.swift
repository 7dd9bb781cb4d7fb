import Foundation
import XCTest
import FoundryModel
import FoundryCPU
import FoundryCore
import FoundryData

final class TokenizerTests: XCTestCase {
    static let tricky: [String] = [
        "",
        "hello world",
        "Hello, World! It's a test. They're here; we've won, I'm sure you'll see, he'd go.",
        "emoji 👨‍👩‍👧‍👦 and 🇫🇷 flags 🙂",
        "CJK 你好，世界。日本語のテキスト 한국어",
        "combining e\u{301} and a\u{308}\u{323} marks, precomposed é",
        "line one\r\nline two\rline three\n\n\nend",
        "nul \u{0} and \u{1}\u{7F} controls",
        "\ttabs\t\tand   multiple   spaces   ",
        "   leading and trailing spaces   ",
        "text with <|endoftext|> inside and [MASK] too<|endoftext|>",
        "<|endoftext|<|endoftext|>>",
        "numbers 12345 and 3.14159, ½ ⅔ Ⅻ",
        "Ångström Å Å \u{2126} Ω",
        "zero\u{200B}width\u{FEFF}bom\u{2028}sep\u{00A0}nbsp",
        "math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and 𝟙𝟚𝟛",
        "'''s 's 'S 'll 'LL don't",
        "?!... -- ((()))",
    ]

    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "foundry-tok-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func message(_ body: () throws -> Void) -> String? {
        do { try body() } catch let e as FoundryError { return e.message } catch { return "non-Foundry error: \(error)" }
        return nil
    }

    // MARK: char

    func testCharVocabOfKnownString() throws {
        let t = CharTokenizer.train(corpus: "hello world")
        // " dehlorw" sorted by scalar value, then the four specials.
        XCTAssertEqual(t.kind, "char")
        XCTAssertEqual(t.vocabSize, 12)
        XCTAssertEqual(t.eosToken, 8)
        XCTAssertEqual(t.maskToken, 9)
        XCTAssertEqual(t.id(ofSpecial: "<|endoftext|>"), 8)
        XCTAssertEqual(t.id(ofSpecial: "[MASK]"), 9)
        XCTAssertEqual(t.id(ofSpecial: "<|user|>"), 10)
        XCTAssertEqual(t.id(ofSpecial: "<|assistant|>"), 11)
        XCTAssertNil(t.id(ofSpecial: "<pad>"))
        XCTAssertEqual(try t.encode("hello world"), [3, 2, 4, 4, 5, 0, 7, 5, 6, 4, 1])
        XCTAssertEqual(try t.encode("dew<|endoftext|>[MASK]"), [1, 2, 7, 8, 9])
        XCTAssertEqual(t.decode([3, 2, 4, 4, 5, 8, 9]), "hello<|endoftext|>[MASK]")
    }

    func testCharUsesScalarsNotGraphemes() throws {
        let t = CharTokenizer.train(corpus: "e\u{301}👨‍👩‍👧")
        // e, U+0301, 👨, ZWJ, 👩, 👧 — sorted by value: e(0x65) U+0301 U+200D 👧 👨 👩
        XCTAssertEqual(t.vocabSize, 6 + 4)
        XCTAssertEqual(try t.encode("e\u{301}"), [0, 1])
        XCTAssertThrowsError(try t.encode("\u{E9}"))  // precomposed é is a different scalar
    }

    func testCharRoundTrip() throws {
        let all = Self.tricky.joined(separator: "\n")
        let t = CharTokenizer.train(corpus: all)
        for s in Self.tricky {
            let ids = try t.encode(s)
            XCTAssertTrue(ids.allSatisfy { $0 >= 0 && Int($0) < t.vocabSize })
            XCTAssertTrue(t.decode(ids).unicodeScalars.elementsEqual(s.unicodeScalars), "round trip of \(s.debugDescription)")
        }
        XCTAssertEqual(try t.encode("<|endoftext|>"), [t.eosToken])
    }

    func testCharUnknownCharacterError() throws {
        let t = CharTokenizer.train(corpus: "abc")
        let m = message { _ = try t.encode("abd") }
        XCTAssertNotNil(m)
        XCTAssertTrue(m!.contains("U+0064"), m!)
        XCTAssertTrue(m!.contains("'d'"), m!)
        XCTAssertTrue(m!.contains("--tokenizer bpe"), m!)
        XCTAssertFalse(m!.contains("\n"))
        let e = message { _ = try t.encode("a\u{1F600}") }
        XCTAssertTrue(e?.contains("U+1F600") ?? false, e ?? "no error")
    }

    /// The tokenizer saved at `path` loads back as the same kind, size and specials, and
    /// encodes the corpus and the tricky strings as `t` does.
    @discardableResult
    func assertReloads(_ t: Tokenizer, from path: String, kind: String, corpus: String, file: StaticString = #filePath,
                       line: UInt = #line) throws -> Tokenizer {
        let u = try TokenizerIO.load(path: path)
        XCTAssertEqual(u.kind, kind, file: file, line: line)
        XCTAssertEqual(u.vocabSize, t.vocabSize, file: file, line: line)
        XCTAssertEqual(u.eosToken, t.eosToken, file: file, line: line)
        XCTAssertEqual(u.maskToken, t.maskToken, file: file, line: line)
        XCTAssertEqual(try u.encode(corpus), try t.encode(corpus), file: file, line: line)
        for s in Self.tricky { XCTAssertEqual(try u.encode(s), try t.encode(s), file: file, line: line) }
        return u
    }

    func testCharSaveLoad() throws {
        let dir = try tempDir()
        let corpus = Self.tricky.joined(separator: "\n")
        let t = CharTokenizer.train(corpus: corpus)
        let path = dir + "/tokenizer.json"
        try t.save(to: path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["tokenizer.json"])
        try assertReloads(t, from: path, kind: "char", corpus: corpus)
        // A plain Hugging Face tokenizer.json: no extra top-level keys (tokenizers rejects them);
        // the kind is inferred (a single-scalar vocab with no merges is "char").
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        let known: Set<String> = ["version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer",
                                  "post_processor", "decoder", "model"]
        XCTAssertTrue(Set(json.keys).isSubset(of: known), "\(json.keys)")
        XCTAssertNil(json["foundry"])
        XCTAssertEqual((json["added_tokens"] as? [Any])?.count, 4)
    }

    // MARK: BPE

    func testBPEHandWorkedMerges() throws {
        let t = try BPETokenizer.train(corpus: "aaab aaab", vocabSize: 256 + 3 + 4)
        // Pairs: (a,a)×4 > (a,b)×2 > (' ',a)×1, so a+a first; then (aa,a)×2 ties (a,b)×2 and
        // the smaller id pair (97,98) wins; then aa+ab.
        XCTAssertEqual(t.merges.count, 3)
        XCTAssertTrue(t.merges[0] == (97, 97, 256))
        XCTAssertTrue(t.merges[1] == (97, 98, 257))
        XCTAssertTrue(t.merges[2] == (256, 257, 258))
        XCTAssertEqual(t.vocabSize, 263)
        XCTAssertEqual(t.eosToken, 259)
        XCTAssertEqual(t.maskToken, 260)
        XCTAssertEqual(try t.encode("aaab"), [258])
        XCTAssertEqual(try t.encode(" aaab"), [32, 258])
        XCTAssertEqual(try t.encode("aab"), [256, 98])      // (a,a) has the lower rank than (a,b)
        XCTAssertEqual(try t.encode("ab aaaa"), [257, 32, 256, 256])
        XCTAssertEqual(t.decode([258, 32, 257]), "aaab ab")
    }

    func testBPEStopsWhenNothingLeftToMerge() throws {
        let t = try BPETokenizer.train(corpus: "ab", vocabSize: 1000)
        XCTAssertEqual(t.merges.count, 1)
        XCTAssertEqual(t.vocabSize, 256 + 1 + 4)
        XCTAssertEqual(try t.encode("ab"), [256])
    }

    func testBPEVocabTooSmall() {
        let m = message { _ = try BPETokenizer.train(corpus: "abc", vocabSize: 257) }
        XCTAssertTrue(m?.contains("260") ?? false, m ?? "no error")
    }

    func testBPETrainingCompressesAndRoundTrips() throws {
        let corpus = BuiltinCorpus.generate(characters: 30_000, seed: 3)
        var calls = 0
        let t = try BPETokenizer.train(corpus: corpus, vocabSize: 512) { done, total in
            calls += 1
            XCTAssertLessThanOrEqual(done, total)
        }
        XCTAssertGreaterThan(calls, 0)
        XCTAssertEqual(t.vocabSize, 512)
        XCTAssertEqual(t.eosToken, 508)
        XCTAssertEqual(t.maskToken, 509)
        XCTAssertEqual(t.id(ofSpecial: "<|assistant|>"), 511)
        let ids = try t.encode(corpus)
        XCTAssertLessThan(Double(ids.count), 0.5 * Double(corpus.utf8.count))
        XCTAssertEqual(t.decode(ids), corpus)
        for s in Self.tricky {
            let ids = try t.encode(s)
            XCTAssertTrue(t.decode(ids).unicodeScalars.elementsEqual(s.unicodeScalars), "round trip of \(s.debugDescription)")
        }
        XCTAssertEqual(try t.encode("a<|endoftext|>b[MASK]"), [97, t.eosToken, 98, t.maskToken])
        // Deterministic.
        let t2 = try BPETokenizer.train(corpus: corpus, vocabSize: 512)
        XCTAssertTrue(t.merges.elementsEqual(t2.merges, by: ==))
    }

    func testBPEAllBytesRoundTrip() throws {
        let t = try BPETokenizer.train(corpus: "the cat sat on the mat", vocabSize: 270)
        var s = String.UnicodeScalarView()
        for v in 0..<0x3000 where !(0xD800..<0xE000).contains(v) { s.append(Unicode.Scalar(UInt32(v))!) }
        for v in [0x1F600, 0x10FFFF, 0xE0001, 0x1D11E] { s.append(Unicode.Scalar(UInt32(v))!) }
        let text = String(s)
        XCTAssertEqual(t.decode(try t.encode(text)), text)
        XCTAssertTrue(t.decode(try t.encode(text)).unicodeScalars.elementsEqual(text.unicodeScalars))
    }

    func testPreTokenizerMatchesGPT2Pattern() {
        XCTAssertEqual(BPETokenizer.preTokenize("Hello world's  end\n\nfoo"),
                       ["Hello", " world", "'s", " ", " end", "\n", "\n", "foo"])
        XCTAssertEqual(BPETokenizer.preTokenize("I'm 42 years, you'll see!!  "),
                       ["I", "'m", " 42", " years", ",", " you", "'ll", " see", "!!", "  "])
        XCTAssertEqual(BPETokenizer.preTokenize("don't 'S ?'s a\tb"),
                       ["don", "'t", " '", "S", " ?'", "s", " a", "\t", "b"])
    }

    func testBPESaveLoad() throws {
        let dir = try tempDir()
        let corpus = BuiltinCorpus.generate(characters: 8_000, seed: 5) + Self.tricky.joined()
        let t = try BPETokenizer.train(corpus: corpus, vocabSize: 400)
        let path = dir + "/tok.json"
        try t.save(to: path)
        try t.save(to: path)  // overwrite in place
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["tok.json"])
        let u = try assertReloads(t, from: path, kind: "bpe", corpus: corpus)
        XCTAssertTrue((try XCTUnwrap(u as? BPETokenizer)).merges.elementsEqual(t.merges, by: ==))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        let model = json["model"] as! [String: Any]
        XCTAssertEqual(model["type"] as? String, "BPE")
        XCTAssertEqual((model["vocab"] as? [String: Any])?["Ġ"] as? Int, 32)
        XCTAssertEqual((json["pre_tokenizer"] as? [String: Any])?["type"] as? String, "ByteLevel")
    }

    /// A hand-written GPT-2 style file: merges as "a b" strings, bytes in GPT-2's id order,
    /// no "foundry" key, no [MASK].
    func gpt2StyleFile(merges: [String]) -> String {
        var printable: [Int] = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var scalars = printable
        var n = 0
        for b in 0..<256 where !printable.contains(b) { printable.append(b); scalars.append(256 + n); n += 1 }
        func esc(_ s: String) -> String {
            let d = try! JSONSerialization.data(withJSONObject: [s], options: [.fragmentsAllowed])
            return String(String(decoding: d, as: UTF8.self).dropFirst().dropLast())
        }
        var vocab: [String] = []
        for (i, u) in scalars.enumerated() { vocab.append("\(esc(String(Unicode.Scalar(UInt32(u))!))): \(i)") }
        vocab.append("\"ab\": 256"); vocab.append("\"bc\": 257"); vocab.append("\"<|endoftext|>\": 258")
        return """
        {"version": "1.0", "truncation": null, "padding": null,
         "added_tokens": [{"id": 258, "content": "<|endoftext|>", "single_word": false, "lstrip": false,
                           "rstrip": false, "normalized": true, "special": true}],
         "normalizer": null,
         "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
         "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
         "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
         "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                   "end_of_word_suffix": "", "fuse_unk": false,
                   "vocab": {\(vocab.joined(separator: ", "))},
                   "merges": [\(merges.map { "\"\($0)\"" }.joined(separator: ", "))]}}
        """
    }

    func testLoadsGPT2StyleFileAndAppliesMergesInRankOrder() throws {
        let dir = try tempDir()
        let p1 = dir + "/a.json", p2 = dir + "/b.json"
        try gpt2StyleFile(merges: ["a b", "b c"]).write(toFile: p1, atomically: false, encoding: .utf8)
        try gpt2StyleFile(merges: ["b c", "a b"]).write(toFile: p2, atomically: false, encoding: .utf8)
        let t1 = try TokenizerIO.load(path: p1), t2 = try TokenizerIO.load(path: p2)
        XCTAssertEqual(t1.kind, "bpe")
        XCTAssertEqual(t1.vocabSize, 259)
        XCTAssertEqual(t1.eosToken, 258)
        XCTAssertEqual(t1.maskToken, -1)
        XCTAssertNil(t1.id(ofSpecial: "[MASK]"))
        // GPT-2 byte ids: '!' is 0, 'a' is 64, ' ' is 220.
        XCTAssertEqual(try t1.encode("abc"), [256, 66])
        XCTAssertEqual(try t2.encode("abc"), [64, 257])
        XCTAssertEqual(try t1.encode("! a<|endoftext|>"), [0, 220, 64, 258])
        for s in Self.tricky { XCTAssertEqual(t1.decode(try t1.encode(s)), s) }
        // Re-saved, it loads as a Foundry file with the same behaviour.
        let p3 = dir + "/c.json"
        try t2.save(to: p3)
        let t3 = try TokenizerIO.load(path: p3)
        XCTAssertEqual(try t3.encode("abcabc xyz"), try t2.encode("abcabc xyz"))
        XCTAssertEqual(t3.maskToken, -1)
    }

    func testLoadErrors() throws {
        let dir = try tempDir()
        let missing = dir + "/nope.json"
        let m1 = message { _ = try TokenizerIO.load(path: missing) }
        XCTAssertTrue(m1?.contains(missing) ?? false, m1 ?? "no error")
        XCTAssertTrue(m1?.contains("foundry tokenizer train") ?? false, m1 ?? "no error")

        let bad = dir + "/bad.json"
        try "{\"model\": {\"vocab\": {\"a\": 0,}".write(toFile: bad, atomically: false, encoding: .utf8)
        let m2 = message { _ = try TokenizerIO.load(path: bad) }
        XCTAssertTrue(m2?.contains(bad) ?? false, m2 ?? "no error")
        XCTAssertTrue(m2?.contains("JSON") ?? false, m2 ?? "no error")

        let noModel = dir + "/nomodel.json"
        try "{\"version\": \"1.0\", \"foundry\": {\"kind\": \"char\"}}".write(toFile: noModel, atomically: false, encoding: .utf8)
        let m3 = message { _ = try TokenizerIO.load(path: noModel) }
        XCTAssertTrue(m3?.contains(noModel) ?? false, m3 ?? "no error")
        XCTAssertTrue(m3?.contains("model") ?? false, m3 ?? "no error")

        let badMerge = dir + "/badmerge.json"
        try gpt2StyleFile(merges: ["a q"]).replacingOccurrences(of: "\"q\": 80, ", with: "")
            .write(toFile: badMerge, atomically: false, encoding: .utf8)
        let m4 = message { _ = try TokenizerIO.load(path: badMerge) }
        XCTAssertTrue(m4?.contains(badMerge) ?? false, m4 ?? "no error")

        let m5 = message { _ = try TokenizerIO.load(path: dir) }
        XCTAssertTrue(m5?.contains("directory") ?? false, m5 ?? "no error")
    }

    // MARK: corpus

    func testBuiltinCorpus() {
        let a = BuiltinCorpus.generate(characters: 50_000, seed: 1)
        let b = BuiltinCorpus.generate(characters: 50_000, seed: 1)
        let c = BuiltinCorpus.generate(characters: 50_000, seed: 2)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertEqual(a.unicodeScalars.count, 50_000)
        XCTAssertTrue(a.hasPrefix(BuiltinCorpus.generate(characters: 1_000, seed: 1)))
        for mark in [".", ",", "?", "\"", "\n", "\n\n", "!"] { XCTAssertTrue(a.contains(mark), "missing \(mark.debugDescription)") }
        let words = Set(a.split { !$0.isLetter }.map { $0.lowercased() })
        XCTAssertGreaterThan(words.count, 200)
        XCTAssertTrue(a.unicodeScalars.allSatisfy { $0.isASCII })
        XCTAssertEqual(BuiltinCorpus.generate(characters: 0), "")
        // A char tokenizer trained on it has a modest alphabet.
        let t = CharTokenizer.train(corpus: a)
        XCTAssertLessThan(t.vocabSize, 100)
    }

    /// A checkpoint tells transformers how to read its tokenizer: tokenizer_config.json names
    /// PreTrainedTokenizerFast (without it AutoTokenizer rebuilt a GPT-2 tokenizer that dropped a
    /// character vocabulary's spaces), the special tokens and Foundry's chat template; a character
    /// tokenizer's decoder concatenates (without one, decode put spaces between characters);
    /// generation_config.json stops at end-of-text. Tools/check_hf_tokenizer.py runs transformers on it.
    func testCheckpointTellsTransformersHowToTokenize() throws {
        let tok = CharTokenizer.train(corpus: "which is larger: 4 or 1?")
        let config = GPT2Config(vocabSize: tok.vocabSize, maxSeq: 8, channels: 8, layers: 1, heads: 2, eosTokenId: Int(tok.eosToken))
        let dir = CLI.tempDir()
        try Checkpoint.save(try GPT2(config: config, device: CPUDevice()), tokenizer: tok, to: dir)
        func json(_ name: String) throws -> [String: Any] {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))) as? [String: Any], name)
        }
        let tc = try json("tokenizer_config.json")
        XCTAssertEqual(tc["tokenizer_class"] as? String, "PreTrainedTokenizerFast")
        XCTAssertEqual(tc["eos_token"] as? String, TokenizerSpecials.eos)
        let template = try XCTUnwrap(tc["chat_template"] as? String)
        XCTAssertTrue(template.contains(TokenizerSpecials.user) && template.contains(TokenizerSpecials.assistant) && template.contains("add_generation_prompt"))
        XCTAssertEqual((try json("tokenizer.json")["decoder"] as? [String: Any])?["type"] as? String, "Fuse")
        XCTAssertEqual(try json("generation_config.json")["eos_token_id"] as? Int, Int(tok.eosToken))
        XCTAssertEqual(try TokenizerIO.load(path: dir + "/tokenizer.json").encode("is 4"), try tok.encode("is 4"), "Foundry still reads it back")
    }

    /// GPT-2's vocabulary as a tiktoken rank file and as vocab.json + merges.txt, on a small
    /// vocabulary worked by hand: the 256 bytes, then "ab" (256) and "abc" (257). "abcab" merges
    /// a+b twice (rank 256 first), then ab+c: [abc, ab]. (Tools/check_gpt2_vocab.py checks the
    /// real GPT-2 files against tiktoken on 1 MB of text.)
    func testGPT2VocabularyFiles() throws {
        let dir = CLI.tempDir()
        var lines = (0..<256).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }
        lines += ["\(Data("ab".utf8).base64EncodedString()) 256", "\(Data("abc".utf8).base64EncodedString()) 257"]
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/tiny.tiktoken", atomically: true, encoding: .utf8)
        let fromRanks = try TokenizerIO.load(path: dir + "/tiny.tiktoken")
        XCTAssertEqual(try fromRanks.encode("abcab"), [257, 256])
        XCTAssertEqual(try fromRanks.encode("ab<|endoftext|>"), [256, 258], "end-of-text follows the last rank")
        XCTAssertEqual(fromRanks.decode([257, 256]), "abcab")

        let hf = dir + "/hf"
        try FileManager.default.createDirectory(atPath: hf, withIntermediateDirectories: true)
        // GPT-2's byte → printable-character table, written out here as the reference has it.
        var printable = Array(33...126) + Array(161...172) + Array(174...255), extra = 0
        var char: [Int: Int] = Dictionary(uniqueKeysWithValues: printable.map { ($0, $0) })
        for b in 0..<256 where char[b] == nil { char[b] = 256 + extra; extra += 1; printable.append(b) }
        var vocab: [String: Int] = [:]
        for b in 0..<256 { vocab[String(UnicodeScalar(UInt32(char[b]!))!)] = b }
        vocab["ab"] = 256; vocab["abc"] = 257; vocab["<|endoftext|>"] = 258
        try JSONSerialization.data(withJSONObject: vocab).write(to: URL(fileURLWithPath: hf + "/vocab.json"))
        try "#version: 0.2\na b\nab c\n".write(toFile: hf + "/merges.txt", atomically: true, encoding: .utf8)
        let fromFiles = try TokenizerIO.load(path: hf)
        XCTAssertEqual(try Checkpoint.loadTokenizer(hf)?.encode("abcab"), [257, 256], "a model directory with only vocab.json + merges.txt")
        for text in ["abcab", "a b  c\nab", "ab<|endoftext|>cab"] {
            XCTAssertEqual(try fromFiles.encode(text), try fromRanks.encode(text), text)
        }
        try "a b\nno-space-here\n".write(toFile: hf + "/merges.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TokenizerIO.load(path: hf)) { XCTAssertTrue("\($0)".contains("line 2"), "\($0)") }
        try "not base64 !\n".write(toFile: dir + "/bad.tiktoken", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TokenizerIO.load(path: dir + "/bad.tiktoken")) { XCTAssertTrue("\($0)".contains("line 1"), "\($0)") }
    }

    /// `foundry export --format gguf`: the header a GGUF reader starts from (magic, version 3,
    /// a GPT-2 block's 12 tensors plus the embeddings, final norm and output), the first key,
    /// and F16 matrices halving the file. (Tools/check_gguf.py compares every tensor with gguf.)
    func testGGUFExport() throws {
        let tok = CharTokenizer.train(corpus: "which is larger: 4 or 1?")
        let config = GPT2Config(vocabSize: tok.vocabSize, maxSeq: 8, channels: 16, layers: 2, heads: 2, eosTokenId: Int(tok.eosToken))
        let model = try GPT2(config: config, device: CPUDevice())
        try model.initialise(seed: 1)
        let dir = CLI.tempDir()
        try Checkpoint.save(model, tokenizer: tok, to: dir + "/m")
        var sizes: [Int] = []
        for precision in ["f32", "f16"] {
            let r = try CLI.run(["export", "--model", dir + "/m", "--out", dir + "/m.\(precision).gguf", "--precision", precision])
            XCTAssertEqual(r.status, 0, r.stderr)
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/m.\(precision).gguf"))
            XCTAssertEqual(Array(data.prefix(4)), Array("GGUF".utf8))
            func u64(_ at: Int) -> Int { data[at..<at + 8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) } }
            XCTAssertEqual(Int(data[4]), 3, "version")
            XCTAssertEqual(u64(8), 2 + 12 * 2 + 3, "tensors")
            XCTAssertEqual(u64(16), 17, "metadata keys")
            XCTAssertEqual(String(decoding: data[32..<32 + u64(24)], as: UTF8.self), "general.architecture")
            sizes.append(data.count)
        }
        XCTAssertLessThan(sizes[1], sizes[0], "F16 matrices make a smaller file")
        let masked = try GPT2(config: GPT2Config(vocabSize: tok.vocabSize, maxSeq: 8, channels: 16, layers: 1, heads: 2, objective: .masked), device: CPUDevice())
        try Checkpoint.save(masked, tokenizer: tok, to: dir + "/masked")
        let refused = try CLI.run(["export", "--model", dir + "/masked", "--out", dir + "/x.gguf"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("masked"), refused.stderr)
    }
}
