import XCTest
import Foundation
import FoundryCore
import FoundryFiles
import FoundryData
import FoundryModel
import FoundryPipeline

/// Seeded mutants of every file format Foundry reads — safetensors, config.json, tokenizer.json,
/// JSONL rows, token-id files — each must load or throw a `FoundryError` (a one-line message);
/// none may trap. A trap ends the test process, so reaching the end is the assertion; the rest
/// checks that the errors are Foundry's own.
final class FuzzTests: XCTestCase {
    var rng = RNG(seed: 1234)

    /// One random edit: flip a byte, delete, duplicate or insert a run, or truncate.
    func mutate(_ bytes: [UInt8]) -> [UInt8] {
        var b = bytes
        let interesting: [UInt8] = Array("{}[]\":,-0123456789eE.\\ntfn \u{00}".utf8) + [0xFF, 0xC3, 0x80]
        for _ in 0...rng.below(3) {
            guard !b.isEmpty else { b = [interesting[rng.below(interesting.count)]]; continue }
            let i = rng.below(b.count)
            switch rng.below(6) {
            case 0: b[i] = UInt8(truncatingIfNeeded: rng.below(256))
            case 1: b[i] = interesting[rng.below(interesting.count)]
            case 2: b.removeSubrange(i..<min(b.count, i + 1 + rng.below(16)))
            case 3: b.insert(contentsOf: b[i..<min(b.count, i + 1 + rng.below(32))], at: rng.below(b.count))
            case 4: b.insert(contentsOf: Array(String(Int.max - rng.below(1000)).utf8), at: i)
            default: b.removeLast(rng.below(b.count) + 1)
            }
        }
        return b
    }

    /// Runs `read` on `count` mutants of `seed`, written to `path`; counts loads and errors.
    func fuzz(_ name: String, seed: Data, path: String, count: Int, _ read: (String) throws -> Void) throws {
        var loaded = 0, refused = 0
        let original = [UInt8](seed)
        for i in 0..<count {
            let mutant = i == 0 ? original : mutate(original)
            try Data(mutant).write(to: URL(fileURLWithPath: path))
            do {
                try read(path)
                loaded += 1
            } catch let e as FoundryError {
                XCTAssertFalse("\(e)".isEmpty)
                refused += 1
            } catch {
                XCTFail("\(name) mutant \(i) threw a non-Foundry error: \(error)")
            }
        }
        XCTAssertGreaterThan(refused, count / 10, "\(name): the mutants should mostly be refused")
        XCTAssertGreaterThan(loaded, 0, "\(name): the unmutated file loads")
    }

    func testMutantsLoadOrThrowFoundryErrors() throws {
        let dir = CLI.tempDir()
        let fixture = Fixtures.path("gpt2-tiny")
        // safetensors: a small file of three tensors (and the header's length field in play).
        let st = dir + "/seed.safetensors"
        try SafeTensors.write([NamedTensor(name: "a", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                               NamedTensor(name: "b.weight", shape: [4], values: [0.5, -1, 2, 3]),
                               NamedTensor(name: "c", shape: [], values: [7])], metadata: ["format": "pt", "step": "3"], to: st)
        try fuzz("safetensors", seed: try Data(contentsOf: URL(fileURLWithPath: st)), path: dir + "/m.safetensors", count: 2000) { p in
            _ = try SafeTensors.read(path: p)
        }
        // config.json, through the model's own reading (sizes checked, nothing allocated).
        try fuzz("config.json", seed: try Data(contentsOf: URL(fileURLWithPath: fixture + "/config.json")), path: dir + "/config.json",
                 count: 2000) { p in
            let config = try GPT2Config(file: try ConfigFile.decode(try Data(contentsOf: URL(fileURLWithPath: p)), path: p), path: p)
            _ = config.checkedParameterCount
        }
        // tokenizer.json of both kinds, then a round trip through the loaded tokenizer.
        let text = "the quick brown fox jumps over the lazy dog, twice: the quick brown fox."
        for kind in TokenizerKind.allCases {
            let tok = try TokenizerIO.train(kind: kind, corpus: text, vocabSize: 270)
            try fuzz("tokenizer.json (\(kind))", seed: try tok.encoded(), path: dir + "/tokenizer.json", count: 1000) { p in
                let t = try TokenizerIO.load(path: p)
                _ = t.decode(try t.encode("the fox"))
            }
        }
        // JSONL rows of each format (bad rows are skipped with a warning; a file with none fails).
        let rows = [
            ("sft", #"{"prompt": "What is 2+2?", "completion": "4"}"# + "\n" + #"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}"#),
            ("prefs", #"{"prompt": "Pick", "chosen": "a", "rejected": "b", "margin": 1.5}"# + "\n" + #"{"chosen": "\n\nHuman: x\n\nAssistant: y", "rejected": "\n\nHuman: x\n\nAssistant: z"}"#),
            ("prompts", #"{"prompt": "Which is larger: 3 or 5?", "answer": "5"}"#),
            ("rankings", #"{"prompt": "Pick", "responses": ["a", "bb", "c"], "ranking": [2, 0, 1]}"#),
        ]
        for (format, seed) in rows {
            try fuzz("\(format).jsonl", seed: Data((seed + "\n").utf8), path: dir + "/rows.jsonl", count: 1000) { p in
                switch format {
                case "sft": _ = try Datasets.readSFT(path: p, warn: { _ in })
                case "prefs": _ = try Datasets.readPreferences(path: p, warn: { _ in })
                case "rankings": _ = try Datasets.readRankings(path: p, warn: { _ in })
                default: _ = try Datasets.readPrompts(path: p, warn: { _ in })
                }
            }
        }
        // Token-id files.
        try fuzz("tokens.json", seed: Data("[[1, 2, 3], [4, 5, 6]]".utf8), path: dir + "/tokens.json", count: 1000) { p in
            _ = try readTokenBatch(p)
        }
    }
}
