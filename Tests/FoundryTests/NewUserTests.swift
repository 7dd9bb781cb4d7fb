import XCTest
import Foundation
import FoundryCore
import FoundryModel
import FoundryData
import FoundryCPU

/// What a first-time user trips over, each made to fail loudly or read well: a resumed run with
/// other settings, a model of the wrong kind, an unknown stage to skip, a report with skipped
/// stages, the sampling stats line when output is piped, shortened post-training runs, ETAs.
final class NewUserTests: XCTestCase {
    static let pipeline: String = {
        let out = CLI.tempDir() + "/pipeline"
        let r = try? CLI.run(["pipeline", "--preset", "test", "--out", out, "--skip", "ppo,dpo,grpo,frozen", "--backend", "cpu"])
        precondition(r?.status == 0, r?.stderr ?? "pipeline did not run")
        return out
    }()

    func testWrongModelKindsAreRefused() throws {
        let p = Self.pipeline
        let s = try CLI.run(["sample", "--model", p + "/reward", "--backend", "cpu"])
        XCTAssertNotEqual(s.status, 0)
        XCTAssertTrue(s.stderr.contains("is a reward model") && s.stderr.split(separator: "\n").count == 1, s.stderr)
        let masked = CLI.tempDir() + "/masked"
        let text = p + "/task/pretrain.txt"
        XCTAssertEqual(try CLI.run(["pretrain", "--data", text, "--out", masked, "--objective", "masked", "--steps", "2", "--layers", "1",
                                    "--heads", "2", "--embd", "16", "--context", "16", "--eval-every", "0", "--backend", "cpu"]).status, 0)
        let sft = try CLI.run(["sft", "--model", masked, "--data", p + "/task/sft.jsonl", "--out", CLI.tempDir() + "/x", "--backend", "cpu"])
        XCTAssertNotEqual(sft.status, 0)
        XCTAssertTrue(sft.stderr.contains("masked") && sft.stderr.contains("causal"), sft.stderr)
    }

    func testResumeWithOtherSettingsIsRefused() throws {
        let out = CLI.tempDir() + "/run"
        let base = ["pretrain", "--data", Self.pipeline + "/task/pretrain.txt", "--out", out, "--layers", "1", "--heads", "2", "--embd", "16",
                    "--context", "16", "--eval-every", "0", "--backend", "cpu"]
        XCTAssertEqual(try CLI.run(base + ["--steps", "6", "--stop-at", "3"]).status, 0)
        let r = try CLI.run(base + ["--resume"])   // --steps back at its default
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--steps 2000 (the run has 6)"), r.stderr)
        let ok = try CLI.run(base + ["--steps", "6", "--resume"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("resuming at step 3 of 6"), ok.stdout)
    }

    func testSkippedStagesReadWell() throws {
        let report = try String(contentsOfFile: Self.pipeline + "/report.md", encoding: .utf8)
        XCTAssertFalse(report.lowercased().contains("nan"), report)
        XCTAssertTrue(report.contains("block frozen | skipped"), report)
        let bad = try CLI.run(["pipeline", "--skip", "ppo,foo", "--out", CLI.tempDir()])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("foo") && bad.stderr.contains("frozen"), bad.stderr)
        let again = try CLI.run(["pipeline", "--preset", "test", "--out", Self.pipeline, "--skip", "ppo,dpo,grpo,frozen", "--backend", "cpu"])
        XCTAssertEqual(again.status, 0, again.stderr)
        for line in ["== pretrain: reusing", "== sft: reusing", "== reward model: reusing", "== ppo: skipped", "block frozen): skipped"] {
            XCTAssertTrue(again.stdout.contains(line), "\(line) not in: \(again.stdout)")
        }
    }

    /// stdout and stderr into one pipe, as `foundry sample ... 2>&1 | tee` does: the text ends
    /// its line before the stats line starts.
    func testSampleStatsLineStandsAlone() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = ["sample", "--model", Self.pipeline + "/sft", "--max-tokens", "20", "--prompt", "Which", "--backend", "cpu"]
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, out)
        let last = try XCTUnwrap(out.split(separator: "\n").last)
        XCTAssertTrue(last.hasPrefix("[") && last.contains("tokens/s") && last.contains("first token after"), out)
        XCTAssertTrue(out.hasPrefix("Which"), out)
    }

    func testPostTrainingRunsCanBeShortened() throws {
        let p = Self.pipeline
        let r = try CLI.run(["sft", "--model", p + "/pretrained", "--data", p + "/task/sft.jsonl", "--out", CLI.tempDir() + "/sft",
                             "--epochs", "0.5", "--batch", "8", "--backend", "cpu"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("64 examples, 4 steps"), r.stdout)   // half of 64 rows in batches of 8
        XCTAssertTrue(r.stdout.contains("step    1/4") && r.stdout.contains("ETA …"), "no ETA from the warm-up step: \(r.stdout)")
        let m = try CLI.run(["dpo", "--model", p + "/sft", "--data", p + "/task/prefs.jsonl", "--out", CLI.tempDir() + "/dpo",
                             "--max-steps", "2", "--backend", "cpu"])
        XCTAssertEqual(m.status, 0, m.stderr)
        XCTAssertTrue(m.stdout.contains("dpo step    2/2"), m.stdout)
        XCTAssertFalse(m.stdout.contains("0.0000 |"), "small numbers are not shown as 0.0000: \(m.stdout)")
    }

    /// `foundry chat` in a terminal (a pseudo-terminal from script(1)): prompts, streamed
    /// replies in the chat format, /reset and /quit; and the same conversation through a pipe.
    func testChatThroughATerminal() throws {
        let sft = Self.pipeline + "/sft"
        let command = "\(CLI.binary) chat --model \(sft) --temperature 0 --max-tokens 4 --backend cpu"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qec", command, "/dev/null"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input; p.standardOutput = output; p.standardError = output
        try p.run()
        input.fileHandleForWriting.write(Data("hi\n/reset\nhi\n/quit\n".utf8))
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("/reset starts over") && text.contains("you> ") && text.contains("model> ")
                      && text.contains("(new conversation)"), text)
        // The two replies to "hi", each in a fresh conversation at temperature 0, are the same text.
        let replies = text.components(separatedBy: "model> ").dropFirst().map { $0.components(separatedBy: CharacterSet.newlines)[0] }
        XCTAssertEqual(replies.count, 2, text)
        XCTAssertEqual(replies.first, replies.last, text)
        // One turn from `sample --chat` is the chat's first reply.
        let one = try CLI.run(["sample", "--model", sft, "--chat", "--prompt", "hi", "--temperature", "0", "--max-tokens", "4", "--backend", "cpu"])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertEqual(one.stdout.components(separatedBy: CharacterSet.newlines)[0], replies.first)
    }

    func testCandidatesToRank() throws {
        let out = CLI.tempDir() + "/candidates.jsonl"
        let r = try CLI.run(["sample", "--model", Self.pipeline + "/sft", "--prompts", Self.pipeline + "/task/eval.jsonl", "--n", "3",
                             "--max-tokens", "4", "--out", out, "--backend", "cpu"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 16)
        for line in lines {
            let row = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            XCTAssertNotNil(row["prompt"] as? String)
            XCTAssertEqual((row["responses"] as? [String])?.count, 3)
        }
    }

    /// A pretrained model whose tokenizer has no chat tokens (as a stock GPT-2's has none) goes
    /// through SFT: the tokens are added, the embedding grows by rows equal to the mean of the
    /// old ones, and the run says so in one line.
    func testStagesAddChatTokensToAPretrainedModel() throws {
        let text = try String(contentsOfFile: Self.pipeline + "/task/pretrain.txt", encoding: .utf8)
        let chars = Array(Set(text.unicodeScalars)).sorted { $0.value < $1.value }
        let tok = CharTokenizer(chars: chars, specials: [TokenizerSpecials.eos])
        let config = GPT2Config(vocabSize: tok.vocabSize, maxSeq: 32, channels: 16, layers: 1, heads: 2, eosTokenId: Int(tok.eosToken))
        let model = try GPT2(config: config, device: CPUDevice())
        try model.initialise(seed: 3)
        let base = CLI.tempDir() + "/base", out = CLI.tempDir() + "/sft"
        try Checkpoint.save(model, tokenizer: tok, to: base)
        let r = try CLI.run(["sft", "--model", base, "--data", Self.pipeline + "/task/sft.jsonl", "--out", out, "--max-steps", "2", "--backend", "cpu"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("had no <|user|> <|assistant|>") && r.stdout.contains("grown to \(tok.vocabSize + 2) rows"), r.stdout)
        let saved = try Checkpoint.load(out, device: CPUDevice())
        XCTAssertEqual(saved.config.vocabSize, tok.vocabSize + 2)
        let savedTok = try XCTUnwrap(try Checkpoint.loadTokenizer(out))
        XCTAssertEqual(savedTok.id(ofSpecial: TokenizerSpecials.user), Int32(tok.vocabSize))
        XCTAssertEqual(savedTok.id(ofSpecial: TokenizerSpecials.assistant), Int32(tok.vocabSize + 1))
        // The growth itself: old rows kept, new rows the mean of the old ones.
        let grown = try model.growingVocabulary(to: tok.vocabSize + 2)
        let before = try model.device.read(model.weights.tokenEmbedding), after = try grown.device.read(grown.weights.tokenEmbedding)
        let C = 16, V = tok.vocabSize
        XCTAssertEqual(Array(after.prefix(V * C)), before)
        for j in 0..<C {
            let mean = (0..<V).reduce(0.0) { $0 + Double(before[$1 * C + j]) } / Double(V)
            XCTAssertEqual(Double(after[V * C + j]), mean, accuracy: 1e-6)
            XCTAssertEqual(after[(V + 1) * C + j], after[V * C + j])
        }
        XCTAssertEqual(try grown.device.read(grown.weights.blocks[0][.mlp]), try model.device.read(model.weights.blocks[0][.mlp]))
    }

    /// Continued pretraining: --init-from starts from a checkpoint (its shape, weights and
    /// tokenizer), and --tokenizer DIR reuses a model's tokenizer on new text.
    func testPretrainFromACheckpoint() throws {
        let text = Self.pipeline + "/task/pretrain.txt"
        let a = CLI.tempDir() + "/a", b = CLI.tempDir() + "/b", c = CLI.tempDir() + "/c"
        let common = ["--data", text, "--eval-every", "0", "--log-every", "1", "--backend", "cpu"]
        XCTAssertEqual(try CLI.run(["pretrain", "--out", a, "--steps", "30", "--lr", "1e-2", "--warmup", "2", "--layers", "1", "--heads", "2",
                                    "--embd", "16", "--context", "16"] + common).status, 0)
        let r = try CLI.run(["pretrain", "--out", b, "--init-from", a, "--steps", "3", "--warmup", "1"] + common)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("starting from \(a): 1 layers × 16 wide, context 16"), r.stdout)
        func losses(_ dir: String) throws -> [Double] {
            try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
                try XCTUnwrap((try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["loss"] as? Double)
            }
        }
        let fresh = try losses(a), continued = try losses(b)
        XCTAssertLessThan(continued[0], fresh[0] - 0.5, "a continued run starts where the first ended, not at a fresh model's loss")
        XCTAssertEqual(try Checkpoint.readConfig(b), try Checkpoint.readConfig(a))
        XCTAssertEqual(try Checkpoint.loadTokenizer(b)?.encoded(), try Checkpoint.loadTokenizer(a)?.encoded())
        // A new model with that model's tokenizer.
        XCTAssertEqual(try CLI.run(["pretrain", "--out", c, "--tokenizer", a, "--steps", "1", "--layers", "1", "--heads", "2", "--embd", "8",
                                    "--context", "8"] + common).status, 0)
        XCTAssertEqual(try Checkpoint.loadTokenizer(c)?.encoded(), try Checkpoint.loadTokenizer(a)?.encoded())
    }
}
