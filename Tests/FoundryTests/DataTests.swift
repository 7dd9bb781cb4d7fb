import Foundation
import XCTest
import FoundryCore
import FoundryData

final class DataTests: XCTestCase {
    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "foundry-data-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func file(_ dir: String, _ name: String, _ lines: [String]) throws -> String {
        let p = dir + "/" + name
        try lines.joined(separator: "\n").write(toFile: p, atomically: false, encoding: .utf8)
        return p
    }

    func message(_ body: () throws -> Void) -> String? {
        do { try body() } catch let e as FoundryError { return e.message } catch { return "non-Foundry error: \(error)" }
        return nil
    }

    /// /work/main/Tests/FoundryTests/DataTests.swift → /work/shared/data
    static var sharedData: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data").path
    }

    // MARK: formats

    func testSFTFormats() throws {
        let dir = try tempDir()
        let p = try file(dir, "sft.jsonl", [
            #"{"prompt": "What is 2+3?", "completion": "5"}"#,
            "",
            #"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello \u00e9"}]}"# + "\r",
            #"{"prompt": [{"role": "user", "content": "Q"}], "completion": [{"role": "assistant", "content": "A"}], "extra": 1}"#,
            "   ",
        ])
        var warnings: [String] = []
        let rows = try Datasets.readSFT(path: p) { warnings.append($0) }
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows[0], SFTExample(prompt: "What is 2+3?", completion: "5"))
        XCTAssertEqual(rows[0].prompt, "What is 2+3?")
        XCTAssertEqual(rows[0].messages.map(\.role), ["user", "assistant"])
        XCTAssertEqual(rows[1], .conversation([ChatMessage(role: "system", content: "Be brief."),
                                               ChatMessage(role: "user", content: "Hi"),
                                               ChatMessage(role: "assistant", content: "Hello é")]))
        XCTAssertNil(rows[1].prompt)
        XCTAssertEqual(rows[2].messages, [ChatMessage(role: "user", content: "Q"), ChatMessage(role: "assistant", content: "A")])
        let load = try Datasets.loadSFT(path: p)
        XCTAssertEqual(load.lines, [1, 3, 4])
    }

    func testPreferenceFormatsAndHHPrefix() throws {
        let dir = try tempDir()
        let shared = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Name a fruit.\n\nAssistant:"
        let hh1 = #"{"chosen": "\#(esc(shared + " An apple."))", "rejected": "\#(esc(shared + " An orange, I think."))"}"#
        // The shared part runs past the last "\n\nAssistant:" (" An "), which stays in the replies.
        let hh2 = #"{"chosen": "\#(esc(shared + " Pear."))", "rejected": "\#(esc(shared + " Rock.\n\nHuman: No\n\nAssistant: Sorry"))"}"#
        let p = try file(dir, "prefs.jsonl", [
            #"{"prompt": "What is 2+3?", "chosen": "5", "rejected": "6", "margin": 1.5}"#,
            hh1, hh2,
            #"{"chosen": "no transcript", "rejected": "here"}"#,
            #"{"prompt": "x", "chosen": "y", "rejected": "z", "margin": "big"}"#,
        ])
        var warnings: [String] = []
        let rows = try Datasets.readPreferences(path: p) { warnings.append($0) }
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows[0], PreferenceExample(prompt: "What is 2+3?", chosen: "5", rejected: "6", margin: 1.5))
        XCTAssertEqual(rows[1].prompt, shared)
        XCTAssertEqual(rows[1].chosen, " An apple.")
        XCTAssertEqual(rows[1].rejected, " An orange, I think.")
        XCTAssertNil(rows[1].margin)
        XCTAssertEqual(rows[2].prompt, shared)
        XCTAssertEqual(rows[2].rejected, " Rock.\n\nHuman: No\n\nAssistant: Sorry")
        XCTAssertEqual(warnings.count, 3, "\(warnings)")
        XCTAssertTrue(warnings[0].hasPrefix(p + ":4: "), warnings[0])
        XCTAssertTrue(warnings[0].contains("Assistant:"), warnings[0])
        XCTAssertTrue(warnings[1].hasPrefix(p + ":5: \"margin\" must be a number"), warnings[1])
        XCTAssertEqual(warnings[2], p + ": skipped 2 bad rows, read 3")

        // The helper itself, and its limits.
        let s = Datasets.hhSplit(chosen: "\n\nHuman: a\n\nAssistant: b", rejected: "\n\nHuman: a\n\nAssistant: c")
        XCTAssertEqual(s?.prompt, "\n\nHuman: a\n\nAssistant:")
        XCTAssertEqual(s?.chosen, " b")
        XCTAssertEqual(s?.rejected, " c")
        XCTAssertNil(Datasets.hhSplit(chosen: "\n\nHuman: a\n\nAssist", rejected: "\n\nHuman: a\n\nAssistant: c"))
    }

    func testPointwiseAndPrompts() throws {
        let dir = try tempDir()
        let pw = try file(dir, "pw.jsonl", [
            #"{"prompt": "p", "completion": "c", "score": 0.25}"#,
            #"{"prompt": "p", "completion": "c", "label": false}"#,
            #"{"prompt": "p", "completion": "c", "label": "yes"}"#,
            #"{"prompt": "p", "completion": "c"}"#,
        ])
        var w: [String] = []
        let rows = try Datasets.readPointwise(path: pw) { w.append($0) }
        XCTAssertEqual(rows, [PointwiseExample(prompt: "p", completion: "c", score: 0.25),
                              PointwiseExample(prompt: "p", completion: "c", score: 0)])
        XCTAssertEqual(w.count, 3)
        XCTAssertTrue(w[0].hasPrefix(pw + ":3: \"label\" must be true or false"), w[0])
        XCTAssertTrue(w[1].hasPrefix(pw + ":4: missing \"score\""), w[1])

        let pr = try file(dir, "prompts.jsonl", [
            #"{"prompt": "What is 2+3?", "answer": "5"}"#,
            #"{"prompt": "Say hi"}"#,
            #"{"prompt": "n", "answer": 42}"#,
            #"{"prompt": "n", "answer": null}"#,
            #"{"prompt": "n", "answer": [1]}"#,
        ])
        w = []
        let prompts = try Datasets.readPrompts(path: pr) { w.append($0) }
        XCTAssertEqual(prompts, [RLPrompt(prompt: "What is 2+3?", answer: "5"), RLPrompt(prompt: "Say hi"),
                                 RLPrompt(prompt: "n", answer: "42"), RLPrompt(prompt: "n")])
        XCTAssertEqual(w.count, 2)
        XCTAssertTrue(w[0].hasPrefix(pr + ":5: \"answer\" must be a string or a number"), w[0])
    }

    func testBadRowsReportedWithLineNumbersAndSkipped() throws {
        let dir = try tempDir()
        let p = try file(dir, "bad.jsonl", [
            #"{"prompt": "a", "completion": "b"}"#,
            #"{"prompt": "a", "completion": }"#,
            #"{"prompt": "a"}"#,
            #"{"prompt": 3, "completion": "b"}"#,
            #"{"prompt": "", "completion": "b"}"#,
            #"["prompt", "completion"]"#,
            #"{"messages": [{"role": "user", "content": "only a question"}]}"#,
            #"{"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}"#,
            #"{"text": "plain text"}"#,
            #"{"prompt": "c", "completion": "d"}"#,
        ])
        var w: [String] = []
        let load = try Datasets.loadSFT(path: p)
        XCTAssertEqual(load.rows.count, 2)
        XCTAssertEqual(load.lines, [1, 10])
        XCTAssertEqual(load.issues.map(\.line), [2, 3, 4, 5, 6, 7, 8, 9])
        XCTAssertEqual(load.total, 10)
        let rows = try Datasets.readSFT(path: p) { w.append($0) }
        XCTAssertEqual(rows, [SFTExample(prompt: "a", completion: "b"), SFTExample(prompt: "c", completion: "d")])
        XCTAssertEqual(w.count, 9)
        let expected = [
            ":2: invalid JSON", ":3: missing \"completion\"", ":4: \"prompt\" must be a string, not a number",
            ":5: \"prompt\" is empty", ":6: the row is an array, not a JSON object", ":7: \"messages\" has no assistant turn",
            ":8: messages[0].role 'robot'", ":9: a plain \"text\" row",
        ]
        for (line, want) in zip(w, expected) { XCTAssertTrue(line.hasPrefix(p + want), "\(line) vs \(want)") }
        XCTAssertEqual(w.last, p + ": skipped 8 bad rows, read 2")

        // Only the first 20 are listed, then a count.
        let many = try file(dir, "many.jsonl", (0..<25).map { _ in "{oops" } + [#"{"prompt": "a", "completion": "b"}"#])
        w = []
        XCTAssertEqual(try Datasets.readSFT(path: many) { w.append($0) }.count, 1)
        XCTAssertEqual(w.count, 22)
        XCTAssertTrue(w[19].hasPrefix(many + ":20: invalid JSON"), w[19])
        XCTAssertEqual(w[20], many + ": ... and 5 more bad rows")
        XCTAssertEqual(w[21], many + ": skipped 25 bad rows, read 1")
    }

    func testFileErrors() throws {
        let dir = try tempDir()
        let empty = try file(dir, "empty.jsonl", [])
        let m1 = message { _ = try Datasets.readSFT(path: empty) { _ in } }
        XCTAssertTrue(m1?.contains(empty) ?? false, m1 ?? "no error")
        XCTAssertTrue(m1?.contains("is empty") ?? false, m1 ?? "no error")
        XCTAssertTrue(m1?.contains("\"completion\"") ?? false, m1 ?? "no error")

        let blank = try file(dir, "blank.jsonl", ["", "  ", ""])
        XCTAssertTrue(message { _ = try Datasets.readPrompts(path: blank) { _ in } }?.contains("is empty") ?? false)

        let allBad = try file(dir, "allbad.jsonl", [#"{"question": "x"}"#, "nope"])
        var w: [String] = []
        let m2 = message { _ = try Datasets.readPreferences(path: allBad) { w.append($0) } }
        XCTAssertTrue(m2?.contains(allBad) ?? false, m2 ?? "no error")
        XCTAssertTrue(m2?.contains("no valid rows") ?? false, m2 ?? "no error")
        XCTAssertTrue(m2?.contains("\"chosen\"") ?? false, m2 ?? "no error")
        XCTAssertTrue(m2?.contains("line 1") ?? false, m2 ?? "no error")
        XCTAssertEqual(w.count, 3)  // both rows, then the summary

        let array = try file(dir, "array.jsonl", [#"[{"prompt": "a", "answer": "b"},"#, #"{"prompt": "c"}]"#])
        XCTAssertTrue(message { _ = try Datasets.readPrompts(path: array) { _ in } }?.contains("jq -c") ?? false)

        let missing = dir + "/nope.jsonl"
        let m3 = message { _ = try Datasets.readSFT(path: missing) }
        XCTAssertTrue(m3?.hasPrefix("file not found: \(missing) (") ?? false, m3 ?? "no error")
        XCTAssertTrue(m3?.contains("foundry data synth") ?? false, m3 ?? "no error")
        XCTAssertTrue(message { _ = try Datasets.readSFT(path: dir) }?.contains("directory") ?? false)
        for m in [m1, m2, m3] { XCTAssertFalse(m?.contains("\n") ?? true) }
    }

    func testGzip() throws {
        let dir = try tempDir()
        let p = try file(dir, "rows.jsonl", [#"{"prompt": "What is 1+1?", "answer": "2"}"#, #"{"prompt": "é?"}"#])
        let gz = try gzip(p)
        XCTAssertTrue(gz.hasSuffix(".jsonl.gz"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: p))
        XCTAssertEqual(try Datasets.readPrompts(path: gz), [RLPrompt(prompt: "What is 1+1?", answer: "2"), RLPrompt(prompt: "é?")])

        let corrupt = dir + "/corrupt.jsonl.gz"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: gz)))
        bytes = Array(bytes.prefix(bytes.count / 2))
        try Data(bytes).write(to: URL(fileURLWithPath: corrupt))
        let m = message { _ = try Datasets.readPrompts(path: corrupt) }
        XCTAssertTrue(m?.contains("cannot decompress \(corrupt)") ?? false, m ?? "no error")
        let notGzip = try file(dir, "plain.jsonl.gz", [#"{"prompt": "x"}"#])
        XCTAssertTrue(message { _ = try Datasets.readPrompts(path: notGzip) }?.contains("not gzip") ?? false)
    }

    func gzip(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["gzip", path]
        try p.run()
        p.waitUntilExit()
        if p.terminationStatus != 0 { throw XCTSkip("gzip is not available") }
        return path + ".gz"
    }

    func testAnthropicHHFile() throws {
        let path = Self.sharedData + "/hh-rlhf-harmless-base-test.jsonl.gz"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) is not present") }
        let load = try Datasets.loadPreferences(path: path)
        XCTAssertEqual(load.issues, [])
        XCTAssertEqual(load.rows.count, 2312)
        for r in load.rows {
            XCTAssertTrue(r.prompt.hasPrefix("\n\nHuman:"))
            XCTAssertTrue(r.prompt.hasSuffix("\n\nAssistant:"))
            XCTAssertFalse(r.chosen.isEmpty); XCTAssertFalse(r.rejected.isEmpty)
        }
    }

    func testWritersRoundTrip() throws {
        let dir = try tempDir()
        let sft: [SFTExample] = [SFTExample(prompt: "a \"q\"\n", completion: "b\\"),
                                 .conversation([ChatMessage(role: "user", content: "é\t"), ChatMessage(role: "assistant", content: "x")])]
        let prefs = [PreferenceExample(prompt: "p", chosen: "c", rejected: "r", margin: 0.5),
                     PreferenceExample(prompt: "p", chosen: "c", rejected: "r")]
        let pw = [PointwiseExample(prompt: "p", completion: "c", score: -1.25)]
        let pr = [RLPrompt(prompt: "p", answer: "007"), RLPrompt(prompt: "q")]
        try Datasets.write(sft, to: dir + "/a.jsonl")
        try Datasets.write(prefs, to: dir + "/b.jsonl")
        try Datasets.write(pw, to: dir + "/c.jsonl")
        try Datasets.write(pr, to: dir + "/d.jsonl")
        XCTAssertEqual(try Datasets.readSFT(path: dir + "/a.jsonl"), sft)
        XCTAssertEqual(try Datasets.readPreferences(path: dir + "/b.jsonl"), prefs)
        XCTAssertEqual(try Datasets.readPointwise(path: dir + "/c.jsonl"), pw)
        XCTAssertEqual(try Datasets.readPrompts(path: dir + "/d.jsonl"), pr)
        // Python's json module reads what Foundry writes (when python3 is around, it is checked by hand; here the text).
        let text = try String(contentsOfFile: dir + "/b.jsonl", encoding: .utf8)
        XCTAssertEqual(text, #"{"prompt": "p", "chosen": "c", "rejected": "r", "margin": 0.5}"# + "\n"
                       + #"{"prompt": "p", "chosen": "c", "rejected": "r"}"# + "\n")
    }

    // MARK: chat template

    func chatTokenizer() -> Tokenizer {
        CharTokenizer.train(corpus: "What is 0123456789+-? Hello there. The answer.")
    }

    func testChatTemplateLayout() throws {
        let tok = chatTokenizer()
        let t = try ChatTemplate(tokenizer: tok)
        let u = tok.id(ofSpecial: "<|user|>")!, a = tok.id(ofSpecial: "<|assistant|>")!, e = tok.eosToken
        XCTAssertEqual(t.userToken, u); XCTAssertEqual(t.assistantToken, a); XCTAssertEqual(t.endToken, e)
        XCTAssertEqual(Set([u, a, e, tok.maskToken]).count, 4)

        let p = try t.prompt("What is 2+3?")
        XCTAssertEqual(p, [u] + (try tok.encode("What is 2+3?")) + [a])
        XCTAssertEqual(p, try tok.encode(ChatTemplate.promptText("What is 2+3?")))
        XCTAssertEqual(tok.decode(p), "<|user|>What is 2+3?<|assistant|>")

        let ex = try t.example(prompt: "What is 2+3?", completion: "5")
        XCTAssertEqual(ex.completionStart, p.count)
        XCTAssertEqual(ex.tokens, p + (try tok.encode("5")) + [e])
        XCTAssertEqual(tok.decode(ex.tokens), "<|user|>What is 2+3?<|assistant|>5<|endoftext|>")

        let conv = try t.conversation([(role: "user", content: "Hello"), (role: "assistant", content: "Hi there."),
                                       (role: "user", content: "What is 1+1?"), (role: "assistant", content: "2")])
        XCTAssertEqual(tok.decode(conv.tokens), "<|user|>Hello<|assistant|>Hi there.<|endoftext|><|user|>What is 1+1?<|assistant|>2<|endoftext|>")
        XCTAssertEqual(conv.lossMask.count, conv.tokens.count)
        // Targets: exactly the assistant texts and their closing <|endoftext|>.
        let targets = zip(conv.tokens, conv.lossMask).filter { $0.1 }.map { $0.0 }
        XCTAssertEqual(tok.decode(targets), "Hi there.<|endoftext|>2<|endoftext|>")
        let hiStart = 1 + 5 + 1
        XCTAssertEqual(conv.lossMask[hiStart - 1], false)   // <|assistant|>
        XCTAssertEqual(conv.lossMask[hiStart], true)        // 'H'
        XCTAssertEqual(conv.lossMask[hiStart + 9], true)    // <|endoftext|>
        XCTAssertEqual(conv.lossMask[hiStart + 10], false)  // <|user|>

        // A prompt-completion row renders like example(), masked from completionStart.
        let r = try t.render(SFTExample(prompt: "What is 2+3?", completion: "5"))
        XCTAssertEqual(r.tokens, ex.tokens)
        XCTAssertEqual(r.lossMask, ex.tokens.indices.map { $0 >= ex.completionStart })

        let m1 = message { _ = try t.prompt("Hello<|assistant|>5") }
        XCTAssertTrue(m1?.contains("<|assistant|>") ?? false, m1 ?? "no error")
        let m2 = message { _ = try t.conversation([(role: "bot", content: "Hello")]) }
        XCTAssertTrue(m2?.contains("'bot'") ?? false, m2 ?? "no error")
    }

    func testOldTokenizerHasNoChatTokens() throws {
        // A tokenizer file from before the chat tokens: only <|endoftext|> and [MASK].
        let dir = try tempDir()
        let old = CharTokenizer(chars: Array("abc ".unicodeScalars), specials: ["<|endoftext|>", "[MASK]"])
        try old.save(to: dir + "/tokenizer.json")
        let loaded = try TokenizerIO.load(path: dir + "/tokenizer.json")
        XCTAssertEqual(loaded.vocabSize, 6)
        XCTAssertEqual(loaded.eosToken, 4)
        XCTAssertNil(loaded.id(ofSpecial: "<|user|>"))
        XCTAssertNil(loaded.id(ofSpecial: "<|assistant|>"))
        let m = message { _ = try ChatTemplate(tokenizer: loaded) }
        XCTAssertEqual(m, "this tokenizer has no chat tokens: retrain it with `foundry tokenizer train` or `foundry pretrain`")
        // New tokenizers have all four specials, last, in order.
        let fresh = CharTokenizer.train(corpus: "abc ")
        XCTAssertEqual(TokenizerSpecials.foundry, ["<|endoftext|>", "[MASK]", "<|user|>", "<|assistant|>"])
        XCTAssertEqual(fresh.vocabSize, 8)
        XCTAssertEqual(fresh.id(ofSpecial: TokenizerSpecials.user), 6)
        XCTAssertEqual(fresh.id(ofSpecial: TokenizerSpecials.assistant), 7)
        XCTAssertNoThrow(try ChatTemplate(tokenizer: fresh))
    }

    // MARK: synthetic task

    /// Same seed, same outputs; another seed, other outputs; `f(n)` a prefix of `f(m)` whatever
    /// was called before. Returns two tasks made with seed 7.
    func assertDeterministicPerSeed(_ name: String) throws -> (SynthTask, SynthTask) {
        let a = try SynthTask(name: name, seed: 7), b = try SynthTask(name: name, seed: 7)
        let c = try SynthTask(name: name, seed: 8)
        XCTAssertEqual(a.sftExamples(50), b.sftExamples(50))
        XCTAssertEqual(a.preferencePairs(50), b.preferencePairs(50))
        XCTAssertEqual(a.rlPrompts(50), b.rlPrompts(50))
        XCTAssertEqual(a.evalPrompts(50), b.evalPrompts(50))
        XCTAssertEqual(a.pointwiseExamples(50), b.pointwiseExamples(50))
        XCTAssertEqual(a.pretrainCorpus(characters: 5000), b.pretrainCorpus(characters: 5000))
        XCTAssertNotEqual(a.sftExamples(50), c.sftExamples(50))
        XCTAssertNotEqual(a.evalPrompts(50), c.evalPrompts(50))
        XCTAssertNotEqual(a.pretrainCorpus(characters: 5000), c.pretrainCorpus(characters: 5000))
        // Prefixes, and independent of call order.
        XCTAssertEqual(Array(a.rlPrompts(80).prefix(20)), c.rlPrompts(0) + b.rlPrompts(20))
        return (a, b)
    }

    func testSynthDeterministicPerSeed() throws {
        let (a, b) = try assertDeterministicPerSeed("arithmetic")
        XCTAssertEqual(a.sftExamples(3), b.sftExamples(3))

        let ex = a.sftExamples(200)
        for e in ex {
            guard case .completion(let p, let comp) = e else { return XCTFail("not a completion row") }
            let body = p.dropFirst("What is ".count).dropLast()
            XCTAssertTrue(p.hasPrefix("What is ") && p.hasSuffix("?"), p)
            let parts = body.split(separator: "+")
            XCTAssertEqual(parts.count, 2, p)
            let x = Int(parts[0])!, y = Int(parts[1])!
            XCTAssertTrue((10...999).contains(x) && (10...999).contains(y), p)
            XCTAssertEqual(comp, String(x + y))
        }
        XCTAssertGreaterThan(Set(ex.map(\.prompt)).count, 190)
    }

    func testSynthNamesAndDifficulty() throws {
        let m = message { _ = try SynthTask(name: "chess", seed: 1) }
        XCTAssertTrue(m?.contains("'chess'") ?? false, m ?? "no error")
        XCTAssertTrue(m?.contains("arithmetic") ?? false, m ?? "no error")
        XCTAssertNotNil(message { _ = try SynthTask(name: "arithmetic", seed: 1, digits: 0...3) })
        XCTAssertNotNil(message { _ = try SynthTask(name: "arithmetic", seed: 1, digits: 2...12) })

        let four = try SynthTask(name: "arithmetic", seed: 1, digits: 4...4, subtraction: true)
        let rows = four.rlPrompts(300)
        var sawSub = false, sawAdd = false
        for r in rows {
            let expr = r.prompt.dropFirst("What is ".count).dropLast()
            let isSub = expr.contains("-")
            let parts = expr.split(whereSeparator: { $0 == "+" || $0 == "-" }).map { Int($0)! }
            XCTAssertTrue(parts.allSatisfy { (1000...9999).contains($0) }, r.prompt)
            XCTAssertEqual(r.answer, String(isSub ? parts[0] - parts[1] : parts[0] + parts[1]))
            XCTAssertGreaterThanOrEqual(Int(r.answer!)!, 0)
            if isSub { sawSub = true } else { sawAdd = true }
        }
        XCTAssertTrue(sawSub && sawAdd)
        // Tiny operand spaces still terminate (fewer eval prompts than asked is fine).
        let one = try SynthTask(name: "arithmetic", seed: 1, digits: 1...1)
        XCTAssertLessThanOrEqual(one.evalPrompts(200).count, 100)
        XCTAssertEqual(one.sftExamples(100).count, 100)
    }

    /// (a, op, b) of "What is a+b?"
    func operands(_ prompt: String) -> (Int, Character, Int) {
        let expr = prompt.dropFirst("What is ".count).dropLast()
        let op: Character = expr.contains("-") ? "-" : "+"
        let parts = expr.split(separator: op).map { Int($0)! }
        return (parts[0], op, parts[1])
    }

    func testEvalPromptsHeldOut() throws {
        for subtraction in [false, true] {
            let t = try SynthTask(name: "arithmetic", seed: 3, subtraction: subtraction)
            let eval = t.evalPrompts(300)
            XCTAssertEqual(eval.count, 300)
            XCTAssertEqual(Set(eval.map(\.prompt)).count, 300, "eval prompts are distinct")
            // The same held-out set whatever the seed: another seed's training data avoids it too.
            let other = try SynthTask(name: "arithmetic", seed: 99, subtraction: subtraction)
            var training = Set<String>()
            for s in [t, other] {
                training.formUnion(s.sftExamples(2000).compactMap(\.prompt))
                training.formUnion(s.preferencePairs(2000).map(\.prompt))
                training.formUnion(s.rlPrompts(2000).map(\.prompt))
                training.formUnion(s.pointwiseExamples(1000).map(\.prompt))
            }
            var heldOut = Set<String>()  // "a+b" both orders for +
            for e in eval {
                XCTAssertFalse(training.contains(e.prompt), e.prompt)
                let (a, op, b) = operands(e.prompt)
                heldOut.insert("\(a)\(op)\(b)")
                if op == "+" {
                    XCTAssertFalse(training.contains("What is \(b)+\(a)?"), e.prompt)
                    heldOut.insert("\(b)+\(a)")
                }
            }
            // Pretraining text: every equation is true, and none is held out.
            let corpus = t.pretrainCorpus(characters: 60_000)
            var count = 0
            for (expr, result) in equations(in: corpus) {
                count += 1
                let op: Character = expr.contains("-") ? "-" : "+"
                let parts = expr.split(separator: op).map { Int($0)! }
                XCTAssertEqual(result, op == "+" ? parts[0] + parts[1] : parts[0] - parts[1], expr)
                XCTAssertFalse(heldOut.contains(expr), expr)
            }
            XCTAssertGreaterThan(count, 300)
        }
    }

    /// Every "a+b=c" / "a-b=c" in the text (digits not preceded or followed by more digits).
    func equations(in text: String) -> [(String, Int)] {
        let b = Array(text.utf8)
        func isDigit(_ i: Int) -> Bool { i >= 0 && i < b.count && b[i] >= 48 && b[i] <= 57 }
        var out: [(String, Int)] = []
        var i = 0
        while i < b.count {
            guard isDigit(i), !isDigit(i - 1) else { i += 1; continue }
            var j = i
            while isDigit(j) { j += 1 }
            guard j < b.count, b[j] == UInt8(ascii: "+") || b[j] == UInt8(ascii: "-"), isDigit(j + 1) else { i = j; continue }
            var k = j + 1
            while isDigit(k) { k += 1 }
            guard k < b.count, b[k] == UInt8(ascii: "="), isDigit(k + 1) else { i = k; continue }
            var m = k + 1
            while isDigit(m) { m += 1 }
            out.append((String(decoding: b[i..<k], as: UTF8.self), Int(String(decoding: b[(k + 1)..<m], as: UTF8.self))!))
            i = m
        }
        return out
    }

    func testChecker() {
        let ok = ["432", " 432", "432 ", "432\n", "432\nWhat is 1+1?", "\n432\nmore", "432<|endoftext|>", "432<|endoftext|>junk"]
        for c in ok { XCTAssertTrue(SynthTask.check(completion: c, answer: "432"), c.debugDescription) }
        let bad = ["431", "4320", "0432", "432.", "The answer is 432", "432 apples", "", " ", "42 3", "342", "43",
                   "<|endoftext|>432", "432+0"]
        for c in bad { XCTAssertFalse(SynthTask.check(completion: c, answer: "432"), c.debugDescription) }
        XCTAssertFalse(SynthTask.check(completion: "", answer: ""))
    }

    func testPreferencePairsChosenPassRejectedFail() throws {
        for subtraction in [false, true] {
            let t = try SynthTask(name: "arithmetic", seed: 11, subtraction: subtraction)
            let pairs = t.preferencePairs(2000)
            var numeric = 0, worded = 0
            for p in pairs {
                let (a, op, b) = operands(p.prompt)
                let answer = String(op == "+" ? a + b : a - b)
                XCTAssertEqual(p.chosen, answer)
                XCTAssertTrue(SynthTask.check(completion: p.chosen, answer: answer))
                XCTAssertFalse(SynthTask.check(completion: p.rejected, answer: answer), "\(p.prompt) \(p.rejected)")
                XCTAssertFalse(p.rejected.isEmpty)
                XCTAssertNotEqual(p.rejected, p.chosen)
                if Int(p.rejected) != nil { numeric += 1 } else { worded += 1 }
            }
            // A mix of near misses and badly formed replies.
            XCTAssertGreaterThan(numeric, 800)
            XCTAssertGreaterThan(worded, 300)
            // Near misses are near: most numeric rejections share the answer's length.
            let sameLength = pairs.filter { Int($0.rejected) != nil && $0.rejected.count == $0.chosen.count }.count
            XCTAssertGreaterThan(sameLength, numeric / 3)
            for e in t.pointwiseExamples(500) {
                let (a, op, b) = operands(e.prompt)
                let answer = String(op == "+" ? a + b : a - b)
                XCTAssertEqual(SynthTask.check(completion: e.completion, answer: answer), e.score == 1)
            }
        }
    }

    /// Every character of the task's SFT rows, pairs and eval prompts is in its pretraining
    /// corpus, and a char tokenizer trained on the corpus fits every chat example in 64 tokens.
    func assertCorpusCoversTask(_ t: inout SynthTask, _ corpus: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let have = Set(corpus.unicodeScalars)
        var text = t.sftExamples(500).flatMap(\.messages).map(\.content)
        text += t.preferencePairs(1000).flatMap { [$0.prompt, $0.chosen, $0.rejected] }
        text += t.evalPrompts(200).map(\.prompt)
        for s in text { for u in s.unicodeScalars { XCTAssertTrue(have.contains(u), "\(u) of \(s) is not in the corpus", file: file, line: line) } }
        let chat = try ChatTemplate(tokenizer: CharTokenizer.train(corpus: corpus))
        for p in t.preferencePairs(200) {
            XCTAssertLessThanOrEqual(try chat.example(prompt: p.prompt, completion: p.rejected).tokens.count, 64, file: file, line: line)
        }
    }

    func testPretrainCorpusCoversTaskCharacters() throws {
        for subtraction in [false, true] {
            var t = try SynthTask(name: "arithmetic", seed: 5, subtraction: subtraction)
            let corpus = t.pretrainCorpus(characters: 3000)
            XCTAssertEqual(corpus.utf8.count, 3000)
            XCTAssertTrue(corpus.unicodeScalars.allSatisfy { $0.isASCII })
            try assertCorpusCoversTask(&t, corpus)
            // The arithmetic share is roughly as asked.
            let big = t.pretrainCorpus(characters: 40_000)
            let arithmeticLike = big.components(separatedBy: "\n\n").filter { $0.contains("=") }.reduce(0) { $0 + $1.count }
            XCTAssertEqual(Double(arithmeticLike) / 40_000, 0.5, accuracy: 0.1)
            t.arithmeticShare = 0
            XCTAssertEqual(t.pretrainCorpus(characters: 2000).utf8.count, 2000)
            t.arithmeticShare = 1
            let all = t.pretrainCorpus(characters: 2000)
            XCTAssertEqual(all.utf8.count, 2000)
            XCTAssertGreaterThan(equations(in: all).count, 20)
            XCTAssertEqual(t.pretrainCorpus(characters: 0), "")
        }
    }

    // MARK: synthetic task: compare

    /// (a, b) of "Which is larger: a or b?"; nil when the prompt is not exactly that template.
    func compareOperands(_ prompt: String) -> (Int, Int)? {
        guard prompt.hasPrefix("Which is larger: "), prompt.hasSuffix("?") else { return nil }
        let parts = prompt.dropFirst("Which is larger: ".count).dropLast().components(separatedBy: " or ")
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), String(a) == parts[0], String(b) == parts[1] else { return nil }
        return (a, b)
    }

    /// The integers of each sentence-like piece of `text` (cut at . ? : and newlines).
    func numberGroups(in text: String) -> [[Int]] {
        text.split(whereSeparator: { ".?:\n".contains($0) }).map { piece in
            piece.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        }
    }

    func testCompareDeterministicPerSeed() throws {
        let (a, _) = try assertDeterministicPerSeed("compare")
        // Not the arithmetic task under another name.
        XCTAssertNotEqual(a.sftExamples(20), try SynthTask(name: "arithmetic", seed: 7).sftExamples(20))

        // One fixed chat template everywhere; the answer is the larger of two distinct operands.
        let ex = a.sftExamples(200)
        var prompts = ex.compactMap(\.prompt) + a.rlPrompts(200).map(\.prompt) + a.evalPrompts(100).map(\.prompt)
        prompts += a.preferencePairs(100).map(\.prompt) + a.pointwiseExamples(100).map(\.prompt)
        for p in prompts {
            guard let (x, y) = compareOperands(p) else { XCTFail("not the compare template: \(p)"); continue }
            XCTAssertNotEqual(x, y, p)
            XCTAssertTrue((10...999).contains(x) && (10...999).contains(y), p)
        }
        for e in ex {
            guard case .completion(let p, let comp) = e, let (x, y) = compareOperands(p) else { XCTFail("bad row"); continue }
            XCTAssertEqual(comp, String(max(x, y)))
        }
        for r in a.rlPrompts(100) + a.evalPrompts(100) {
            let (x, y) = compareOperands(r.prompt)!
            XCTAssertEqual(r.answer, String(max(x, y)))
        }
        XCTAssertGreaterThan(Set(ex.map(\.prompt)).count, 190)
        let firstLarger = ex.filter { e in compareOperands(e.prompt!).map { $0.0 > $0.1 } ?? false }.count
        XCTAssertEqual(Double(firstLarger) / 200, 0.5, accuracy: 0.15, "the larger number comes first about half the time")
    }

    /// The simulated demonstrator's slips: only hard cases, only the documented mistake, at
    /// about the requested rate; other outputs untouched.
    func testDemonstratorSlip() throws {
        let clean = try SynthTask(name: "compare", seed: 3, digits: 1...2)
        var slippy = clean
        slippy.demoSlip = 0.7
        let a = clean.sftExamples(3000), b = slippy.sftExamples(3000)
        XCTAssertEqual(a.map(\.prompt), b.map(\.prompt), "same problems")
        // Comparisons stay correct, and on hard cases reject the slip at the slip rate
        // (labelers compare what the SFT model writes); other pairs are unchanged.
        let cleanPairs = clean.preferencePairs(3000), slippyPairs = slippy.preferencePairs(3000)
        var hardPairs = 0, slipRejected = 0
        for (x, y) in zip(cleanPairs, slippyPairs) {
            XCTAssertEqual(x.prompt, y.prompt)
            XCTAssertEqual(x.chosen, y.chosen)
            guard let (u, v) = compareOperands(x.prompt) else { XCTFail("bad prompt \(x.prompt)"); continue }
            XCTAssertEqual(y.chosen, String(max(u, v)))
            XCTAssertFalse(SynthTask.check(completion: y.rejected, answer: y.chosen))
            if abs(u - v) < 20 && u < v {
                if x.rejected == String(u) { XCTAssertEqual(y.rejected, String(u)); continue }
                hardPairs += 1
                if y.rejected == String(u) { slipRejected += 1 }
            } else {
                XCTAssertEqual(x.rejected, y.rejected, "only hard cases change")
            }
        }
        // Of the hard pairs whose clean rejected answer is something else, the slip replaces it at the slip rate.
        XCTAssertGreaterThan(hardPairs, 200)
        XCTAssertEqual(Double(slipRejected) / Double(hardPairs), 0.7, accuracy: 0.06)
        XCTAssertEqual(clean.rlPrompts(200), slippy.rlPrompts(200))
        var eligible = 0, slipped = 0
        for (x, y) in zip(a, b) {
            guard case .completion(let p, let right) = x, case .completion(_, let given) = y,
                  let (u, v) = compareOperands(p) else { XCTFail("bad row"); continue }
            XCTAssertEqual(right, String(max(u, v)))
            let hard = abs(u - v) < 20 && u < v        // a close call whose first number is the smaller
            if hard { eligible += 1 }
            if given != right {
                slipped += 1
                XCTAssertTrue(hard, "slip outside a hard case: \(p) → \(given)")
                XCTAssertEqual(given, String(u), "the slip answers the first number")
            }
        }
        XCTAssertGreaterThan(eligible, 200)
        XCTAssertEqual(Double(slipped) / Double(eligible), 0.7, accuracy: 0.06)

        // Arithmetic: the slip drops carries, only on sums that have one.
        var add = try SynthTask(name: "arithmetic", seed: 3, digits: 2...2)
        add.demoSlip = 1
        for e in add.sftExamples(300) {
            guard case .completion(let p, let given) = e else { continue }
            let ops = p.dropFirst("What is ".count).dropLast().split(separator: "+").compactMap { Int($0) }
            XCTAssertEqual(ops.count, 2, p)
            let (u, v) = (ops[0], ops[1])
            let carries = (u % 10 + v % 10) >= 10 || (u / 10 + v / 10 + (u % 10 + v % 10) / 10) >= 10
            XCTAssertEqual(given == String(u + v), !carries, "\(p) → \(given)")
        }
    }

    func testCompareNamesAndDifficulty() throws {
        let m = message { _ = try SynthTask(name: "chess", seed: 1) }
        XCTAssertTrue(m?.contains("arithmetic") ?? false, m ?? "no error")
        XCTAssertTrue(m?.contains("compare") ?? false, m ?? "no error")
        XCTAssertTrue(SynthTask.knownNames.contains("compare"))
        let one = try SynthTask(name: "compare", seed: 1, digits: 1...1)
        XCTAssertLessThanOrEqual(one.evalPrompts(200).count, 90)
        XCTAssertEqual(one.sftExamples(100).count, 100)
        for r in one.rlPrompts(100) {
            let (x, y) = compareOperands(r.prompt)!
            XCTAssertTrue((0...9).contains(x) && (0...9).contains(y) && x != y, r.prompt)
        }
    }

    func testCompareEvalHeldOut() throws {
        // 1-2 digit operands: a small pair space, so training data would hit held-out pairs if it could.
        let t = try SynthTask(name: "compare", seed: 3, digits: 1...2)
        let other = try SynthTask(name: "compare", seed: 99, digits: 1...2)
        let eval = t.evalPrompts(3000)
        XCTAssertEqual(Set(eval.map(\.prompt)).count, eval.count, "eval prompts are distinct")
        var heldOut = Set<[Int]>()  // unordered pairs, as [min, max]
        for e in eval {
            let (a, b) = compareOperands(e.prompt)!
            heldOut.insert([min(a, b), max(a, b)])
        }
        // About a tenth of the 4950 unordered pairs of 0...99, whatever the seed.
        XCTAssertGreaterThan(heldOut.count, 300)
        XCTAssertLessThan(heldOut.count, 700)
        XCTAssertEqual(Set(other.evalPrompts(3000).map(\.prompt)).count, eval.count)
        for e in other.evalPrompts(500) {
            let (a, b) = compareOperands(e.prompt)!
            XCTAssertTrue(heldOut.contains([min(a, b), max(a, b)]), e.prompt)
        }
        var trainingPrompts: [String] = []
        for s in [t, other] {
            trainingPrompts += s.sftExamples(3000).compactMap(\.prompt)
            trainingPrompts += s.preferencePairs(3000).map(\.prompt)
            trainingPrompts += s.rlPrompts(3000).map(\.prompt)
            trainingPrompts += s.pointwiseExamples(2000).map(\.prompt)
        }
        for p in trainingPrompts {
            let (a, b) = compareOperands(p)!
            XCTAssertFalse(heldOut.contains([min(a, b), max(a, b)]), p)  // either order
        }
        // Pretraining text: no sentence mentions a held-out pair (in either order), and every
        // "a < b" / "a > b" is true.
        var mentions = 0
        for s in [t, other] {
            let corpus = s.pretrainCorpus(characters: 80_000)
            for group in numberGroups(in: corpus) where group.count >= 2 {
                mentions += 1
                for i in 0..<group.count {
                    for j in (i + 1)..<group.count where group[i] != group[j] {
                        XCTAssertFalse(heldOut.contains([min(group[i], group[j]), max(group[i], group[j])]), "\(group)")
                    }
                }
            }
            for line in corpus.split(separator: "\n") {
                let parts = line.split(separator: " ")
                guard parts.count == 3, let x = Int(parts[0]), let y = Int(parts[2]) else { continue }
                if parts[1] == "<" { XCTAssertLessThan(x, y, String(line)) }
                if parts[1] == ">" { XCTAssertGreaterThan(x, y, String(line)) }
            }
        }
        XCTAssertGreaterThan(mentions, 1000)
    }

    func testComparePreferencePairsChosenPassRejectedFail() throws {
        let t = try SynthTask(name: "compare", seed: 11)
        let pairs = t.preferencePairs(2000)
        var smaller = 0, nearMiss = 0, worded = 0
        for p in pairs {
            let (a, b) = compareOperands(p.prompt)!
            let answer = String(max(a, b))
            XCTAssertEqual(p.chosen, answer)
            XCTAssertTrue(SynthTask.check(completion: p.chosen, answer: answer))
            XCTAssertFalse(SynthTask.check(completion: p.rejected, answer: answer), "\(p.prompt) \(p.rejected)")
            XCTAssertFalse(p.rejected.isEmpty)
            if p.rejected == String(min(a, b)) { smaller += 1 } else if Int(p.rejected) != nil { nearMiss += 1 } else { worded += 1 }
        }
        XCTAssertGreaterThan(smaller, 400)
        XCTAssertGreaterThan(nearMiss, 200)
        XCTAssertGreaterThan(worded, 300)
        XCTAssertTrue(pairs.contains { $0.rejected.hasSuffix(" is larger") })
        XCTAssertTrue(pairs.contains { $0.rejected.contains(" or ") })
        for e in t.pointwiseExamples(500) {
            let (a, b) = compareOperands(e.prompt)!
            XCTAssertEqual(SynthTask.check(completion: e.completion, answer: String(max(a, b))), e.score == 1)
        }
    }

    func testComparePretrainCorpus() throws {
        var t = try SynthTask(name: "compare", seed: 5)
        let corpus = t.pretrainCorpus(characters: 3000)
        XCTAssertEqual(corpus.utf8.count, 3000)
        XCTAssertTrue(corpus.unicodeScalars.allSatisfy { $0.isASCII })
        // It opens with every surface form.
        let opening = corpus.components(separatedBy: "\n\n")[0]
        for form in [" is larger than ", "Of ", ", the larger is ", " is smaller than ", "Which number is bigger, ",
                     "Compare ", " is greater."] {
            XCTAssertTrue(opening.contains(form), form)
        }
        XCTAssertTrue(opening.contains(" < ") || opening.contains(" > "))
        try assertCorpusCoversTask(&t, corpus)
        // Never the chat format, nor any training or eval prompt.
        let big = t.pretrainCorpus(characters: 60_000)
        XCTAssertFalse(big.contains("Which is larger:"))
        XCTAssertFalse(big.contains("Which is larger"))
        for p in Set(t.sftExamples(300).compactMap(\.prompt) + t.evalPrompts(100).map(\.prompt)) {
            XCTAssertFalse(big.contains(p), p)
        }
        XCTAssertGreaterThan(big.components(separatedBy: " is larger than ").count, 30)
        XCTAssertGreaterThan(big.components(separatedBy: "Of ").count, 30)
        t.arithmeticShare = 1
        let all = t.pretrainCorpus(characters: 2000)
        XCTAssertEqual(all.utf8.count, 2000)
        XCTAssertFalse(all.contains("Which is larger"))
        XCTAssertFalse(all.contains("="), "no arithmetic in the compare task's text")
        t.arithmeticShare = 0
        XCTAssertEqual(t.pretrainCorpus(characters: 2000).utf8.count, 2000)
    }

    func testSynthWrite() throws {
        let dir = try tempDir() + "/new/data"
        let t = try SynthTask(name: "arithmetic", seed: 2)
        let files = try t.write(to: dir, sizes: SynthTask.Sizes(sft: 30, prefs: 20, rl: 10, eval: 5, corpusCharacters: 4000))
        XCTAssertEqual(files.map { ($0.path as NSString).lastPathComponent },
                       ["pretrain.txt", "sft.jsonl", "prefs.jsonl", "rl_prompts.jsonl", "eval.jsonl"])
        XCTAssertEqual(files.map(\.count), [4000, 30, 20, 10, 5])
        XCTAssertEqual(try String(contentsOfFile: dir + "/pretrain.txt", encoding: .utf8), t.pretrainCorpus(characters: 4000))
        XCTAssertEqual(try Datasets.readSFT(path: dir + "/sft.jsonl"), t.sftExamples(30))
        XCTAssertEqual(try Datasets.readPreferences(path: dir + "/prefs.jsonl"), t.preferencePairs(20))
        XCTAssertEqual(try Datasets.readPrompts(path: dir + "/rl_prompts.jsonl"), t.rlPrompts(10))
        XCTAssertEqual(try Datasets.readPrompts(path: dir + "/eval.jsonl"), t.evalPrompts(5))
        let first = try String(contentsOfFile: dir + "/sft.jsonl", encoding: .utf8).split(separator: "\n")[0]
        XCTAssertTrue(first.hasPrefix(#"{"prompt": "What is "#) && first.contains(#", "completion": ""#), String(first))
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)).count, 5)  // no temp files left

        // Zero skips a file; bad sizes and paths are errors.
        let only = try t.write(to: dir + "/only", sizes: SynthTask.Sizes(sft: 0, prefs: 0, rl: 0, eval: 3, corpusCharacters: 0))
        XCTAssertEqual(only.map(\.count), [3])
        XCTAssertTrue(message { try t.write(to: dir, sizes: SynthTask.Sizes(sft: -1)) }?.contains("--sft") ?? false)
        let m = message { try t.write(to: dir + "/pretrain.txt", sizes: SynthTask.Sizes(sft: 1)) }
        XCTAssertTrue(m?.contains("not a directory") ?? false, m ?? "no error")
    }
}

/// JSON string escaping for hand-written test rows.
private func esc(_ s: String) -> String {
    s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        .replacingOccurrences(of: "\n", with: "\\n")
}
