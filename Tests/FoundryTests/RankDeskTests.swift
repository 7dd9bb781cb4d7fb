import Foundation
import XCTest
import FoundryModel
import FoundryCore
import FoundryFiles
import FoundryCPU
import FoundryData
import FoundryTrain
@testable import FoundryServe

/// The Rank tab's endpoints as a careless or hostile client meets them: who may submit what,
/// late submits, cross-site requests, chat replies and special tokens, torn lines and full disks.
final class RankDeskTests: XCTestCase {
    typealias Running = ServeTests.Running

    func file() -> String { CLI.tempDir() + "/rankings.jsonl" }

    /// Without a session nobody gets a prompt; a ranker holds one prompt at a time; only its
    /// holder may submit it, and only for the lease it was handed.
    func testOnlyTheHolderOfALeaseMaySubmitIt() async throws {
        let path = file()
        var options = ServeTests.testOptions
        options.k = 3
        let server = try ServeTests.server(on: CPUDevice(), options: options, prompts: ["first?", "second?", "third?"], rankings: path)
        let s = try await ServeTests.start(server)
        let anonymous = try await s.request("GET", "/foundry/rank/next")
        XCTAssertEqual(anonymous.status, 400)
        let made = try await s.next("0123456789abcdef")
        XCTAssertEqual(made.status, 400, "an invented token is not a session")

        let alice = try await s.ranker(), bob = try await s.ranker()
        let a = try await s.next(alice), a2 = try await s.next(alice)
        XCTAssertEqual(a.json["index"] as? Int, a2.json["index"] as? Int, "the same prompt again until it is ranked")
        XCTAssertEqual(a.json["lease"] as? String, a2.json["lease"] as? String)
        let b = try await s.next(bob)
        XCTAssertNotEqual(a.json["index"] as? Int, b.json["index"] as? Int)

        // Bob submits Alice's prompt with Alice's lease: refused, and Alice's ranking then goes in.
        let stolen = try await s.post("/foundry/rank/submit", ["ranker": bob, "index": a.json["index"]!, "lease": a.json["lease"]!, "ranking": [0, 1, 2]])
        XCTAssertEqual(stolen.status, 409, "\(stolen.json)")
        let noRanker = try await s.post("/foundry/rank/submit", ["index": a.json["index"]!, "lease": a.json["lease"]!, "ranking": [0, 1, 2]])
        XCTAssertEqual(noRanker.status, 400)
        let noLease = try await s.post("/foundry/rank/submit", ["ranker": alice, "index": a.json["index"]!, "ranking": [0, 1, 2]])
        XCTAssertEqual(noLease.status, 400)
        let mine = try await s.post("/foundry/rank/submit", ["ranker": alice, "index": a.json["index"]!, "lease": a.json["lease"]!, "ranking": [1, 0, 2]])
        XCTAssertEqual(mine.status, 200, "\(mine.json)")
        let rows = try Datasets.readRankings(path: path)
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows.first?.responses, a.json["responses"] as? [String], "stored against the responses Alice saw")
        XCTAssertEqual(rows.first?.ranking, [1, 0, 2])
        await s.stop()
    }

    /// A lease that ran out and went to someone else: the first person's late submit is refused
    /// and writes nothing; the new holder's goes in with the responses they saw.
    func testALateSubmitAfterTheLeaseMovedIsRefused() async throws {
        let path = file()
        var options = ServeTests.testOptions
        options.k = 2
        let server = try ServeTests.server(on: CPUDevice(), options: options, prompts: ["only prompt?"], rankings: path, leaseSeconds: 0.3)
        let s = try await ServeTests.start(server)
        let alice = try await s.ranker(), bob = try await s.ranker()
        let a = try await s.next(alice)
        XCTAssertEqual(a.json["index"] as? Int, 0)
        let waiting = try await s.next(bob)
        XCTAssertNil(waiting.json["index"], "Alice holds the only prompt")
        XCTAssertEqual(waiting.json["done"] as? Bool, false)
        XCTAssertNotNil(waiting.json["note"])
        try await Task.sleep(nanoseconds: 500_000_000)
        let b = try await s.next(bob)
        XCTAssertEqual(b.json["index"] as? Int, 0, "the lease ran out: Bob gets the prompt")
        XCTAssertNotEqual(b.json["lease"] as? String, a.json["lease"] as? String)
        let late = try await s.post("/foundry/rank/submit", ["ranker": alice, "index": 0, "lease": a.json["lease"]!, "ranking": [0, 1]])
        XCTAssertEqual(late.status, 409)
        XCTAssertEqual((late.json["error"] as? [String: Any])?["code"] as? String, "lease_moved")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "nothing written for the late submit")
        let ok = try await s.post("/foundry/rank/submit", ["ranker": bob, "index": 0, "lease": b.json["lease"]!, "ranking": [1, 0]])
        XCTAssertEqual(ok.status, 200, "\(ok.json)")
        XCTAssertEqual(try Datasets.readRankings(path: path).first?.responses, b.json["responses"] as? [String])
        await s.stop()
    }

    /// Another web page open in the same browser cannot start a session, take a prompt or submit:
    /// a text/plain POST, a foreign Origin, a cross-site fetch and a rebound Host are all refused.
    func testCrossSiteRequestsAreRefused() async throws {
        let path = file()
        let server = try ServeTests.server(on: CPUDevice(), options: ServeTests.testOptions, prompts: ["a?", "b?"], rankings: path)
        let s = try await ServeTests.start(server)
        let plain = try await s.request("POST", "/foundry/rank/session", raw: Data("{}".utf8), headers: ["Content-Type": "text/plain"])
        XCTAssertEqual(plain.status, 415)
        let foreign = try await s.post("/foundry/rank/session", [String: Any](), headers: ["Origin": "http://evil.example"])
        XCTAssertEqual(foreign.status, 403)
        let crossSite = try await s.post("/foundry/rank/session", [String: Any](), headers: ["Sec-Fetch-Site": "cross-site"])
        XCTAssertEqual(crossSite.status, 403)
        let me = try await s.ranker()
        let h = try await s.next(me)
        let body: [String: Any] = ["ranker": me, "index": h.json["index"]!, "lease": h.json["lease"]!, "ranking": [0, 1, 2, 3]]
        let asText = try await s.request("POST", "/foundry/rank/submit", raw: try JSONSerialization.data(withJSONObject: body),
                                         headers: ["Content-Type": "text/plain;charset=UTF-8"])
        XCTAssertEqual(asText.status, 415)
        let fromElsewhere = try await s.post("/foundry/rank/submit", body.merging(["skip": true]) { a, _ in a },
                                             headers: ["Origin": "http://127.0.0.1:1"])
        XCTAssertEqual(fromElsewhere.status, 403)
        // DNS rebinding: a hostile name that resolves to 127.0.0.1 keeps its name in Host.
        let rebound = try RawHTTP.exchange(port: s.port, Array(("POST /foundry/rank/session HTTP/1.1\r\nHost: evil.example:\(s.port)\r\n"
            + "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}").utf8), until: RawHTTP.hasWholeBody)
        XCTAssertEqual(RawHTTP.status(rebound), 403)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "nothing was written")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".skipped"))
        // The page itself (same origin) still works.
        let same = try await s.post("/foundry/rank/submit", body, headers: ["Origin": "http://127.0.0.1:\(s.port)", "Sec-Fetch-Site": "same-origin"])
        XCTAssertEqual(same.status, 200, "\(same.json)")
        await s.stop()
    }

    /// A random chat model produces its special tokens often; no chat reply, streamed or whole,
    /// and no response on the Rank tab ever shows one as text, and every ranking trains.
    func testChatRepliesNeverShowSpecialTokens() async throws {
        let path = file()
        var options = ServeTests.testOptions
        options.k = 4
        let server = try ServeTests.server(on: CPUDevice(), options: options, prompts: (0..<6).map { "q\($0)?" }, rankings: path)
        let s = try await ServeTests.start(server)
        let specials = TokenizerSpecials.foundry
        var texts: [String] = [], stoppedEarly = 0
        for seed in 0..<4 {
            let r = try await s.post("/v1/chat/completions", ServeTests.chat("hi", ["n": 8, "temperature": 1.5, "seed": seed, "max_tokens": 30]))
            XCTAssertEqual(r.status, 200, "\(r.json)")
            for c in r.json["choices"] as? [[String: Any]] ?? [] {
                texts.append(((c["message"] as? [String: Any])?["content"] as? String) ?? "")
                if c["finish_reason"] as? String == "stop" { stoppedEarly += 1 }
            }
        }
        let streamed = try await s.stream("/v1/chat/completions", ServeTests.chat("hello", ["n": 4, "temperature": 1.5, "seed": 9, "max_tokens": 30]))
        texts.append(streamed.events.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String }.joined())
        XCTAssertGreaterThan(stoppedEarly, 0, "the random model ends some replies with a special token")
        for t in texts { for sp in specials { XCTAssertFalse(t.contains(sp), "\(t.debugDescription) shows \(sp)") } }
        // The Rank tab: rank every prompt it hands out, then train-read the file as `foundry reward` does.
        let me = try await s.ranker()
        for _ in 0..<6 {
            let h = try await s.next(me)
            guard let i = h.json["index"] as? Int, let responses = h.json["responses"] as? [String] else { break }
            for r in responses { for sp in specials { XCTAssertFalse(r.contains(sp)) } }
            let done = try await s.post("/foundry/rank/submit", ["ranker": me, "index": i, "lease": h.json["lease"]!, "ranking": Array((0..<responses.count).reversed())])
            XCTAssertEqual(done.status, 200, "\(done.json)")
        }
        let rows = try Datasets.readRankings(path: path)
        XCTAssertFalse(rows.isEmpty)
        let data = try StageData(tokenizer: server.model.tokenizer, maxSeq: 64)
        XCTAssertNoThrow(try data.rankings(rows), "the file the page writes trains")
        await s.stop()
    }

    /// Responses on the Rank tab are distinct. A near-greedy model repeats itself: the desk then
    /// raises the temperature (recording it), shows fewer responses with a note, or skips the
    /// prompt with the reason — never two identical cards.
    func testResponsesAreDistinctOrTheDeskSaysWhy() async throws {
        let path = file()
        var options = ServeTests.testOptions
        options.k = 4
        let server = try ServeTests.server(on: CPUDevice(), options: options, prompts: (0..<4).map { "same \($0)?" }, rankings: path,
                                           rankTemperature: 0.02)
        let s = try await ServeTests.start(server)
        let me = try await s.ranker()
        var shown = 0
        for _ in 0..<4 {
            let h = try await s.next(me)
            guard let i = h.json["index"] as? Int, let r = h.json["responses"] as? [String] else { break }
            shown += 1
            XCTAssertEqual(Set(r).count, r.count, "distinct: \(r)")
            if r.count < 4 { XCTAssertNotNil(h.json["note"], "fewer than K responses are explained") }
            let ok = try await s.post("/foundry/rank/submit", ["ranker": me, "index": i, "lease": h.json["lease"]!, "ranking": Array(0..<r.count)])
            XCTAssertEqual(ok.status, 200)
        }
        let ranked = FileManager.default.fileExists(atPath: path) ? try Datasets.readRankings(path: path) : []
        let skipped = FileManager.default.fileExists(atPath: path + ".skipped")
            ? try String(contentsOfFile: path + ".skipped", encoding: .utf8).split(separator: "\n") : []
        XCTAssertEqual(ranked.count, shown)
        XCTAssertEqual(ranked.count + skipped.count, 4, "every prompt ranked or skipped")
        XCTAssertTrue(skipped.allSatisfy { $0.contains("\"reason\"") }, "the desk says why it skipped")
        for row in ranked where row.temperatures != nil {
            XCTAssertTrue(row.temperatures!.contains { $0 > 0.02 }, "raised temperatures are recorded")
        }
        await s.stop()
    }

    /// Ties: a person may say responses are equally good; the row keeps it, its pairs leave the
    /// tie out, and a tie that splits the ranking is refused.
    func testTiesAreStoredAndLeftOutOfPairs() async throws {
        let path = file()
        var options = ServeTests.testOptions
        options.k = 3
        let server = try ServeTests.server(on: CPUDevice(), options: options, prompts: ["tie?", "tie again?"], rankings: path)
        let s = try await ServeTests.start(server)
        let me = try await s.ranker()
        let h = try await s.next(me)
        let base: [String: Any] = ["ranker": me, "index": h.json["index"]!, "lease": h.json["lease"]!]
        let split = try await s.post("/foundry/rank/submit", base.merging(["ranking": [2, 0, 1], "ties": [[2, 1]]]) { a, _ in a })
        XCTAssertEqual(split.status, 400, "2 and 1 are not next to each other")
        XCTAssertEqual((split.json["error"] as? [String: Any])?["param"] as? String, "ties")
        let ok = try await s.post("/foundry/rank/submit", base.merging(["ranking": [2, 0, 1], "ties": [[0, 1]]]) { a, _ in a })
        XCTAssertEqual(ok.status, 200, "\(ok.json)")
        let row = try XCTUnwrap(try Datasets.readRankings(path: path).first)
        XCTAssertEqual(row.ties, [[0, 1]])
        let r = row.responses
        XCTAssertEqual(row.pairs.map { [$0.chosen, $0.rejected] }, [[r[2], r[0]], [r[2], r[1]]])
        XCTAssertEqual(row.tiedPairs, 1)
        await s.stop()
    }

    /// A torn last line is moved aside at start, in one line, before anything is appended; the
    /// rankings before it still count.
    func testATornLineIsMovedAsideAtStart() throws {
        let path = file()
        let whole = Datasets.line(RankingExample(prompt: "p0?", responses: ["a", "b"], ranking: [1, 0]))
        try Data(whole + [0x0A] + Array(#"{"prompt": "p1?", "responses": ["c", "#.utf8)).write(to: URL(fileURLWithPath: path))
        let prompts = CLI.tempDir() + "/prompts.jsonl"
        try Datasets.write(["p0?", "p1?"].map { RLPrompt(prompt: $0) }, to: prompts)
        let (model, tok) = try ServeTests.chatModel(on: CPUDevice())
        let served = ServedModel(name: "t", engine: try Engine(model: model, tokenizer: tok, slots: 2, queueLimit: 4))
        var said: [String] = []
        _ = try RankingDesk(prompts: prompts, rankings: path, k: 2, model: served, temperature: 1, maxTokens: 4, say: { said.append($0) })
        XCTAssertEqual(said.count, 1, "\(said)")
        XCTAssertTrue(said.first?.contains("torn") == true)
        XCTAssertEqual(try String(contentsOfFile: path + ".torn", encoding: .utf8), #"{"prompt": "p1?", "responses": ["c", "# + "\n")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data(whole + [0x0A]))
        served.engine.drain()
    }

    /// A write that fails part-way (a full disk) is rolled back and answered with the real
    /// error; after space comes back the next submit is a line of its own that reads back.
    /// On a real small tmpfs where this process may mount one, else with a writer that fails.
    func testAFailedWriteIsRolledBackAndTheNextOneStandsAlone() async throws {
        let dir = CLI.tempDir() + "/small"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let mounted = Self.mountSmallTmpfs(dir)
        defer { if mounted { _ = Self.shell("umount \(dir)") } }
        let path = dir + "/rankings.jsonl"
        let failing = FailingWriter()
        var options = ServeTests.testOptions
        options.k = 2
        let server = try ServeTests.server(on: CPUDevice(), options: options, prompts: ["one?", "two?", "three?"], rankings: path,
                                           writer: mounted ? nil : failing.writer)
        let s = try await ServeTests.start(server)
        let me = try await s.ranker()
        let filler = dir + "/filler"
        if !mounted {
            // A first line, then a writer that stops after 5 bytes of the next: a torn write.
            let first = try await s.next(me)
            let ok = try await s.post("/foundry/rank/submit", ["ranker": me, "index": first.json["index"]!, "lease": first.json["lease"]!, "ranking": [0, 1]])
            XCTAssertEqual(ok.status, 200)
            failing.failAfter(5)
        } else {
            // tmpfs gives a file whole pages, so the disk is filled before the file has one.
            _ = Self.shell("dd if=/dev/zero of=\(filler) bs=1k count=100 2>/dev/null")
        }
        let before = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
        let second = try await s.next(me)
        let full = try await s.post("/foundry/rank/submit", ["ranker": me, "index": second.json["index"]!, "lease": second.json["lease"]!, "ranking": [1, 0]])
        XCTAssertTrue([500, 507].contains(full.status), "\(full.json)")
        let message = ((full.json["error"] as? [String: Any])?["message"] as? String) ?? ""
        XCTAssertTrue(message.contains("No space left on device"), message)
        XCTAssertFalse(message.contains("Success"))
        XCTAssertEqual((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data(), before, "rolled back: no part of the line is left")
        // Space again: the same prompt (still held) goes in as a line of its own.
        if mounted { try FileManager.default.removeItem(atPath: filler) } else { failing.failAfter(nil) }
        let retry = try await s.post("/foundry/rank/submit", ["ranker": me, "index": second.json["index"]!, "lease": second.json["lease"]!, "ranking": [1, 0]])
        XCTAssertEqual(retry.status, 200, "\(retry.json)")
        let rows = try Datasets.loadRankings(path: path)
        XCTAssertEqual(rows.rows.count, mounted ? 1 : 2)
        XCTAssertTrue(rows.issues.isEmpty, "\(rows.issues)")
        await s.stop()
    }

    /// The same on the file alone: a partial write leaves nothing, even when rollback is impossible the
    /// next append moves the torn part aside first.
    func testLineLogRollsBackAndRepairs() throws {
        let path = CLI.tempDir() + "/log.jsonl"
        let failing = FailingWriter()
        let log = LineLog(path: path, writer: failing.writer)
        try log.append(Array(#"{"a": 1}"#.utf8))
        failing.failAfter(3)
        XCTAssertThrowsError(try log.append(Array(#"{"b": 2}"#.utf8))) { e in
            XCTAssertTrue("\(e)".contains("No space left on device"), "\(e)")
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "{\"a\": 1}\n")
        failing.failAfter(nil)
        // A torn tail left by someone else (a crash): moved aside before the next line.
        let fh = try FileHandle(forWritingTo: URL(fileURLWithPath: path)); try fh.seekToEnd(); try fh.write(contentsOf: Data("{\"c\":".utf8)); try fh.close()
        try log.append(Array(#"{"d": 4}"#.utf8))
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "{\"a\": 1}\n{\"d\": 4}\n")
        XCTAssertEqual(try String(contentsOfFile: path + ".torn", encoding: .utf8), "{\"c\":\n")
    }

    static func shell(_ command: String) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// A 64 KiB tmpfs at `dir` where this process may mount one (root with CAP_SYS_ADMIN).
    static func mountSmallTmpfs(_ dir: String) -> Bool {
        getuid() == 0 && shell("mount -t tmpfs -o size=64k tmpfs \(dir)") == 0
    }
}

/// A writer that acts out a disk filling up: after `limit` bytes in total it writes what fits,
/// then fails with ENOSPC.
final class FailingWriter: @unchecked Sendable {
    private let lock = NSLock()
    private var left: Int?
    func failAfter(_ bytes: Int?) { lock.withLock { left = bytes } }
    var writer: LineLog.Writer {
        { [self] fd, buffer in
            let allowed: Int = lock.withLock {
                guard let l = left else { return buffer.count }
                let n = min(l, buffer.count)
                left = l - n
                return n
            }
            if allowed == 0 && buffer.count > 0 { errno = ENOSPC; return -1 }
            return Glibc.write(fd, buffer.baseAddress, allowed)
        }
    }
}
