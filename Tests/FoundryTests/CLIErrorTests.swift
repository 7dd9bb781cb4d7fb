import XCTest
import FoundryCore
import FoundryFiles
import Foundation

/// Every user mistake ends with one clear line on stderr and a non-zero exit — never a crash.
final class CLIErrorTests: XCTestCase {
    let fixture = Fixtures.path("gpt2-tiny")

    func expectError(_ args: [String], mentions: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try CLI.run(args + ["--backend", "cpu"])
        XCTAssertNotEqual(r.status, 0, "expected failure for \(args)", file: file, line: line)
        XCTAssertLessThan(r.status, 128, "crashed (signal) for \(args): \(r.stderr)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "expected one line, got: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("Error: "), r.stderr, file: file, line: line)
        for m in mentions { XCTAssertTrue(r.stderr.contains(m), "'\(m)' not in: \(r.stderr)", file: file, line: line) }
    }

    func write(_ text: String) -> String {
        let p = CLI.tempDir() + "/tokens.json"
        FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }

    func testMissingDataFile() throws {
        try expectError(["pretrain", "--data", "/nonexistent/corpus.txt", "--out", CLI.tempDir()], mentions: ["/nonexistent/corpus.txt"])
    }

    func testWrongModelDirectory() throws {
        try expectError(["sample", "--model", "/nonexistent/model"], mentions: ["model directory not found"])
        let empty = CLI.tempDir()
        try expectError(["sample", "--model", empty], mentions: ["config.json"])
    }

    func testMalformedTokensFile() throws {
        let out = CLI.tempDir() + "/o.safetensors"
        try expectError(["forward", "--model", fixture, "--tokens", write("[[1, 2], [3]]"), "--out", out], mentions: ["same"])
        try expectError(["forward", "--model", fixture, "--tokens", write("{\"a\": 1}"), "--out", out], mentions: ["JSON array"])
        try expectError(["forward", "--model", fixture, "--tokens", write("[[1, 2.5]]"), "--out", out], mentions: ["not an integer"])
        try expectError(["forward", "--model", fixture, "--tokens", "/nonexistent/t.json", "--out", out], mentions: ["not found"])
    }

    func testTokenOutOfRange() throws {
        let out = CLI.tempDir() + "/o.safetensors"
        try expectError(["forward", "--model", fixture, "--tokens", write("[[1, 2, 53]]"), "--out", out], mentions: ["53", "out of range"])
    }

    func testTruncatedSafetensors() throws {
        let dir = CLI.tempDir()
        for f in ["config.json", "tokens.json"] {
            try FileManager.default.copyItem(atPath: fixture + "/" + f, toPath: dir + "/" + f)
        }
        let full = try Data(contentsOf: URL(fileURLWithPath: fixture + "/model.safetensors"))
        FileManager.default.createFile(atPath: dir + "/model.safetensors", contents: full.prefix(full.count / 2))
        try expectError(["forward", "--model", dir, "--tokens", dir + "/tokens.json", "--out", dir + "/o.safetensors"],
                        mentions: ["model.safetensors", "truncated"])
    }

    func testContextTooLong() throws {
        let row = (0..<20).map { String($0 % 50) }.joined(separator: ", ")
        try expectError(["forward", "--model", fixture, "--tokens", write("[[\(row)]]"), "--out", CLI.tempDir() + "/o"],
                        mentions: ["context"])
    }

    func testDivergingTrainingStops() throws {
        // A learning rate this large sends the loss or the gradient norm to NaN/infinity within
        // a few steps; the run must stop with the hint, not write a ruined model.
        try expectError(["pretrain", "--steps", "20", "--lr", "1e6", "--warmup", "0", "--layers", "1", "--embd", "16",
                         "--heads", "2", "--context", "8", "--eval-every", "0", "--save-every", "0", "--out", CLI.tempDir()],
                        mentions: ["not finite", "lower --lr"])
    }

    func testBadBackendName() throws {
        let r = try CLI.run(["sample", "--logits", "1,2"], environment: ["FOUNDRY_BACKEND": "cuda"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("FOUNDRY_BACKEND"), r.stderr)
    }

    func testPostTrainingOptionMistakes() throws {
        let m = fixture, out = CLI.tempDir()
        try expectError(["pipeline", "--preset", "huge", "--out", out], mentions: ["--preset", "tiny"])
        try expectError(["pipeline", "--digits", "two", "--out", out], mentions: ["--digits"])
        try expectError(["pipeline", "--task", "poetry", "--out", out], mentions: ["poetry", "arithmetic"])
        try expectError(["dpo", "--model", m, "--data", "x.jsonl", "--out", out, "--loss", "kto"], mentions: ["kto", "sigmoid", "hinge"])
        try expectError(["ppo", "--model", m, "--reward-model", m, "--prompts", "x.jsonl", "--out", out, "--kl-estimator", "k9"],
                        mentions: ["k9", "k1", "k3"])
        try expectError(["reward", "--model", m, "--data", "x.jsonl", "--out", out, "--objective", "listwise"], mentions: ["pairwise"])
        try expectError(["extract", "--model", m, "--layers", "3..1", "--out", out], mentions: ["A..B"])
        try expectError(["extract", "--model", m, "--layers", "0..5", "--out", out], mentions: ["outside"])
        try expectError(["reward", "score", "--model", m, "--prompt", "a", "--response", "b"], mentions: ["reward head"])
        try expectError(["dpo", "--model", m, "--data", "x.jsonl", "--out", out, "--rpo-alpha=-1"], mentions: ["--rpo-alpha"])
        // Checked before the model or the (missing) prompts file is read.
        try expectError(["grpo", "--model", m, "--prompts", "x.jsonl", "--checker", "--out", out, "--dynamic-sampling",
                         "--max-sampling-rounds", "0"], mentions: ["--max-sampling-rounds", "at least 1"])
        try expectError(["grpo", "--model", m, "--prompts", "x.jsonl", "--checker", "--out", out, "--group-size", "1"],
                        mentions: ["--group-size"])
        try expectError(["ppo", "--model", m, "--reward-model", m, "--prompts", "x.jsonl", "--out", out, "--ppo-epochs", "0"],
                        mentions: ["--ppo-epochs", "at least 1"])
        try expectError(["ppo", "--model", m, "--reward-model", m, "--prompts", "x.jsonl", "--out", out, "--batch", "4",
                         "--mini-batches", "8"], mentions: ["--mini-batches", "between 1 and --batch"])
        try expectError(["ppo", "--model", m, "--reward-model", m, "--prompts", "x.jsonl", "--out", out, "--value-lr", "0"],
                        mentions: ["--value-lr", "positive"])
        try expectError(["pipeline", "--demo-slip", "1.5", "--out", out], mentions: ["--demo-slip", "between 0 and 1"])
        let synth = try CLI.run(["data", "synth", "--out", out, "--demo-slip", "1.5"])   // no --backend option
        XCTAssertNotEqual(synth.status, 0)
        XCTAssertLessThan(synth.status, 128)
        XCTAssertTrue(synth.stderr.hasPrefix("Error: ") && synth.stderr.contains("--demo-slip must be between 0 and 1"), synth.stderr)
    }

    /// LoRA's and data parallelism's option mistakes, refused before a model loads.
    func testDecodeWeightsMistake() throws {
        try expectError(["sample", "--model", fixture, "--decode-weights", "f8"], mentions: ["--decode-weights", "f32", "f16"])
        try expectError(["serve", "--model", fixture, "--decode-weights", "bf16"], mentions: ["--decode-weights", "f32", "f16"])
    }

    func testLoRAAndZeroOptionMistakes() throws {
        let m = fixture, out = CLI.tempDir()
        try expectError(["sft", "--model", m, "--data", "x.jsonl", "--out", out, "--lora-targets", "attn,ffn"], mentions: ["ffn", "attn", "mlp"])
        try expectError(["sft", "--model", m, "--data", "x.jsonl", "--out", out, "--lora-rank=-2"], mentions: ["--lora-rank"])
        try expectError(["dpo", "--model", m, "--data", "x.jsonl", "--out", out, "--lora-rank", "4", "--lora-alpha", "0"], mentions: ["--lora-alpha"])
        try expectError(["grpo", "--model", m, "--prompts", "x.jsonl", "--checker", "--out", out, "--init-from", "adapter"],
                        mentions: ["--init-from", "--lora-rank"])
        try expectError(["sft", "--model", m, "--data", "x.jsonl", "--out", out, "--lora-rank", "4", "--freeze-layers", "1"],
                        mentions: ["drop --freeze-layers"])
        try expectError(["pretrain", "--out", out, "--zero", "2"], mentions: ["--zero", "0", "1"])
    }

    /// The performance commands' mistakes: a device that is not there, sizes that are not sizes.
    func testBenchAndTuneMistakes() throws {
        let tune = try CLI.run(["kernels", "tune", "--device", "99", "--show"])
        XCTAssertNotEqual(tune.status, 0)
        XCTAssertLessThan(tune.status, 128)
        XCTAssertTrue(tune.stderr.contains("no OpenCL device 99") && tune.stderr.contains("foundry devices"), tune.stderr)
        let missing = try CLI.run(["bench", "--data", "/nonexistent/input.txt", "--out", CLI.tempDir() + "/b.json"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertLessThan(missing.status, 128)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/input.txt") && !missing.stdout.contains("## matmul"),
                      "fails before measuring anything: \(missing.stdout) \(missing.stderr)")
        let shapes = try CLI.run(["bench", "--only", "generate", "--models", "stories15M,nope", "--out", CLI.tempDir() + "/b.json"])
        XCTAssertNotEqual(shapes.status, 0)
        XCTAssertLessThan(shapes.status, 128)
        XCTAssertTrue(shapes.stderr.contains("--models") && shapes.stderr.contains("'nope'") && shapes.stderr.contains("gpt2-124M")
                      && !shapes.stdout.contains("## generation"), "fails before measuring anything: \(shapes.stdout) \(shapes.stderr)")
        for args in [["bench", "--attention-t", "0"], ["bench", "--sizes", "x"], ["kernels", "bench", "--sizes=-5"]] {
            let r = try CLI.run(args + ["--out", CLI.tempDir() + "/b.json"].filter { _ in args[0] == "bench" })
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertLessThan(r.status, 128, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("must be positive integers"), "\(args): \(r.stderr)")
        }
    }

    /// Numbers a user can get wrong, and sizes no machine holds: one line each, before any work.
    func testNumbersAndSizes() throws {
        let out = CLI.tempDir() + "/run"
        let small = ["--layers", "1", "--heads", "2", "--embd", "16", "--context", "8", "--out", out]
        try expectError(["pretrain", "--embd", "3037000500", "--heads", "4", "--out", out], mentions: ["more parameters than any machine"])
        try expectError(["pretrain", "--layers", "1000", "--embd", "4096", "--heads", "32", "--out", out], mentions: ["GiB", "fewer layers"])
        try expectError(["pretrain", "--batch", "100000000000"] + small, mentions: ["--batch"])
        try expectError(["pretrain", "--lr", "nan"] + small, mentions: ["--lr", "nan"])
        try expectError(["pretrain", "--clip", "nan"] + small, mentions: ["--clip"])
        try expectError(["pretrain", "--context", "1", "--out", out], mentions: ["--context", "at least 2"])
        try expectError(["pretrain", "--log-every", "0"] + small, mentions: ["--log-every"])
        try expectError(["pretrain", "--stop-at", "9", "--steps", "5"] + small, mentions: ["--stop-at"])
        try expectError(["pretrain", "--warmup", "-5"] + small, mentions: ["--warmup=-5"])
        try expectError(["sample", "--logits", "1,2", "--max-tokens=-1"], mentions: ["--max-tokens"])
        try expectError(["fill", "--model", fixture, "--text", "a", "--top", "0"], mentions: ["--top"])
        try expectError(["sft", "--model", fixture, "--data", "x.jsonl", "--out", out, "--epochs", "0"], mentions: ["--epochs"])
        try expectError(["reward", "--model", fixture, "--data", "x.jsonl", "--out", out, "--eval-fraction", "1.5"], mentions: ["--eval-fraction"])
        try expectError(["overfit", "--model", fixture, "--tokens", "x.json", "--lr", "inf"], mentions: ["--lr"])
        try expectError(["eval", "--model", fixture, "--task", "x", "--max-new-tokens", "0"], mentions: ["--max-new-tokens"])
        // A config.json whose sizes overflow, or whose vocabulary no device holds.
        let big = CLI.tempDir()
        for f in ["config.json", "model.safetensors", "tokens.json"] {
            try FileManager.default.copyItem(atPath: fixture + "/" + f, toPath: big + "/" + f)
        }
        for (vocab, says) in [(1 << 40, "more parameters than any machine"), (1 << 27, "limit")] {
            var config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: big + "/config.json"))) as? [String: Any])
            config["vocab_size"] = vocab
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: big + "/config.json"))
            let r = try CLI.run(["forward", "--model", big, "--tokens", big + "/tokens.json", "--out", CLI.tempDir() + "/o", "--backend", vocab == 1 << 27 ? "opencl" : "cpu"])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertLessThan(r.status, 128, r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("Error: ") && r.stderr.contains(says) && r.stderr.split(separator: "\n").count == 1, r.stderr)
        }
        var config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture + "/config.json"))) as? [String: Any])
        config["n_positions"] = 1; config["n_ctx"] = 1
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: big + "/config.json"))
        try expectError(["forward", "--model", big, "--tokens", big + "/tokens.json", "--out", CLI.tempDir() + "/o"], mentions: ["n_positions"])
    }

    /// Writes that cannot succeed: a file where a directory should be, a full device, a closed or
    /// full standard output, an existing run, a run another process is writing.
    func testWriteFailures() throws {
        let file = CLI.tempDir() + "/a-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let tiny = ["--steps", "2", "--layers", "1", "--heads", "2", "--embd", "16", "--context", "8", "--eval-every", "0"]
        try expectError(["pretrain", "--out", file] + tiny, mentions: [file, "not a directory"])
        try expectError(["forward", "--model", fixture, "--tokens", fixture + "/tokens.json", "--out", "/dev/full"],
                        mentions: ["/dev/full", "No space left"])
        var st = stat()
        XCTAssertEqual(stat("/dev/full", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFCHR, "a device is written in place, never replaced by a file")
        for target in ["/dev/full"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLI.binary)
            p.arguments = ["sample", "--logits", "1,2"]
            p.standardOutput = FileHandle(forWritingAtPath: target)
            let err = Pipe(); p.standardError = err
            try p.run(); p.waitUntilExit()
            let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(p.terminationStatus, 1, e)
            XCTAssertTrue(e.hasPrefix("Error: cannot write to standard output") && e.split(separator: "\n").count == 1, e)
        }
        // An existing run is not replaced unless asked.
        let run = CLI.tempDir() + "/run"
        XCTAssertEqual(try CLI.run(["pretrain", "--out", run, "--backend", "cpu"] + tiny).status, 0)
        try expectError(["pretrain", "--out", run] + tiny, mentions: ["already holds a model", "--overwrite"])
        XCTAssertEqual(try CLI.run(["pretrain", "--out", run, "--overwrite", "--backend", "cpu"] + tiny).status, 0)
        try expectError(["sft", "--model", fixture, "--data", "x.jsonl", "--out", run], mentions: ["--overwrite"])
        // A run directory another live process holds.
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        try sleeper.run()
        defer { sleeper.terminate() }
        try Data("\(sleeper.processIdentifier)\n".utf8).write(to: URL(fileURLWithPath: run + "/" + RunLock.file))
        try expectError(["pretrain", "--out", run, "--overwrite"] + tiny, mentions: ["another foundry process", "\(sleeper.processIdentifier)"])
        // ... and a stale lock (its process gone) is taken over.
        try Data("999999\n".utf8).write(to: URL(fileURLWithPath: run + "/" + RunLock.file))
        XCTAssertEqual(try CLI.run(["pretrain", "--out", run, "--overwrite", "--backend", "cpu"] + tiny).status, 0)
    }

    /// Damaged files named for what they are, not blamed on a flag the user never passed.
    func testDamagedFilesSayWhatIsWrong() throws {
        let dir = CLI.tempDir() + "/m"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in ["config.json", "model.safetensors", "tokens.json"] { try FileManager.default.copyItem(atPath: fixture + "/" + f, toPath: dir + "/" + f) }
        var config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as? [String: Any])
        config["n_head"] = 5
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
        let r = try CLI.run(["forward", "--model", dir, "--tokens", dir + "/tokens.json", "--out", CLI.tempDir() + "/o", "--backend", "cpu"])
        XCTAssertTrue(r.stderr.contains("n_embd 36 is not divisible by n_head 5") && !r.stderr.contains("--heads")
                      && r.stderr.split(separator: "\n").count == 1, r.stderr)

        // A run whose files are damaged: a tokenizer saved with a byte-order mark still loads; one
        // without its "foundry" section is called possibly damaged; NaN moments are not a learning-rate problem.
        let run = CLI.tempDir() + "/run"
        let tiny = ["--steps", "4", "--stop-at", "2", "--layers", "1", "--heads", "2", "--embd", "16", "--context", "8", "--eval-every", "0",
                    "--out", run, "--backend", "cpu"]
        XCTAssertEqual(try CLI.run(["pretrain", "--tokenizer", "bpe", "--vocab-size", "300"] + tiny).status, 0)
        let tokPath = run + "/tokenizer.json"
        let tokData = try Data(contentsOf: URL(fileURLWithPath: tokPath))
        try (Data([0xEF, 0xBB, 0xBF]) + tokData).write(to: URL(fileURLWithPath: tokPath))
        let bom = try CLI.run(["tokenizer", "encode", "--tokenizer", run, "--text", "ab"])
        XCTAssertEqual(bom.status, 0, bom.stderr)
        var tok = try XCTUnwrap(try JSONSerialization.jsonObject(with: tokData) as? [String: Any])
        for key in ["foundry", "pre_tokenizer", "decoder"] { tok.removeValue(forKey: key) }
        try JSONSerialization.data(withJSONObject: tok).write(to: URL(fileURLWithPath: tokPath))
        let damaged = try CLI.run(["tokenizer", "encode", "--tokenizer", run, "--text", "ab"])
        XCTAssertTrue(damaged.stderr.contains("may be damaged"), damaged.stderr)
        try tokData.write(to: URL(fileURLWithPath: tokPath))
        let opt = run + "/stage_state.safetensors"
        let (tensors, meta) = try SafeTensors.read(path: opt)
        var m = try XCTUnwrap(tensors["adamw.m"])
        m = NamedTensor(name: m.name, shape: m.shape, values: m.values.enumerated().map { $0.offset == 3 ? .nan : $0.element })
        try SafeTensors.write([m, tensors["adamw.v"]!, tensors["adamw.step"]!], metadata: meta, to: opt)
        try expectError(["pretrain", "--resume"] + tiny, mentions: ["stage_state.safetensors", "damaged"])
    }
}
