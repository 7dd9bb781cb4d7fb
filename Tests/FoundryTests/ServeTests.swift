import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
import FoundryCore
import FoundryFiles
import FoundryCPU
import FoundryData
import FoundryModel
import FoundrySample
@testable import FoundryServe

/// `foundry serve` started in-process on an ephemeral port and driven over HTTP.
final class ServeTests: XCTestCase {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz ,.?!:+0123456789".unicodeScalars)

    /// A small random chat model (Foundry's char tokenizer with the chat tokens) on `device`.
    static func chatModel(on device: Device, seed: UInt64 = 7, context: Int = 64) throws -> (GPT2, CharTokenizer) {
        let tok = CharTokenizer(chars: alphabet)
        let config = GPT2Config(vocabSize: tok.vocabSize, maxSeq: context, channels: 32, layers: 2, heads: 2, eosTokenId: Int(tok.eosToken))
        let model = try GPT2(config: config, device: device)
        try model.initialise(seed: seed)
        return (model, tok)
    }

    /// Options for a test server: any free port.
    static var testOptions: ServeOptions { var o = ServeOptions(); o.port = 0; return o }

    static func server(on device: Device, options: ServeOptions = testOptions, prompts: [String]? = nil, rankings: String? = nil,
                       rankTemperature: Float = 1, leaseSeconds: TimeInterval = 30 * 60, writer: LineLog.Writer? = nil,
                       seed: UInt64 = 7, score: (@Sendable (String, [String]) async throws -> [Double])? = nil) throws -> FoundryServer {
        let (model, tok) = try chatModel(on: device, seed: seed)
        let engine = try Engine(model: model, tokenizer: tok, slots: options.slots, queueLimit: options.queue)
        let served = ServedModel(name: "test-model", engine: engine)
        var desk: RankingDesk?
        if let prompts, let rankings {
            let file = CLI.tempDir() + "/prompts.jsonl"
            try Datasets.write(prompts.map { RLPrompt(prompt: $0) }, to: file)
            desk = try RankingDesk(prompts: file, rankings: rankings, k: options.k, model: served, temperature: rankTemperature, maxTokens: 8,
                                   score: score, leaseSeconds: leaseSeconds, writer: writer, say: { _ in })
        }
        return FoundryServer(model: served, options: options, desk: desk)
    }

    /// A running server and a client for it.
    struct Running {
        let port: Int
        let task: Task<Void, Error>
        let key: String?

        func request(_ method: String, _ path: String, body: Any? = nil, raw: Data? = nil, key: String? = nil,
                     headers: [String: String] = [:]) async throws -> (status: Int, data: Data) {
            var r = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            r.httpMethod = method
            r.timeoutInterval = 120
            if let raw { r.httpBody = raw } else if let body { r.httpBody = try JSONSerialization.data(withJSONObject: body) }
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
            if let k = key ?? self.key { r.setValue("Bearer \(k)", forHTTPHeaderField: "Authorization") }
            for (name, value) in headers { r.setValue(value, forHTTPHeaderField: name) }
            let (data, response) = try await URLSession.shared.data(for: r)
            return ((response as! HTTPURLResponse).statusCode, data)
        }

        func post(_ path: String, _ body: Any, headers: [String: String] = [:]) async throws -> (status: Int, json: [String: Any]) {
            let (s, d) = try await request("POST", path, body: body, headers: headers)
            return (s, (try? JSONSerialization.jsonObject(with: d) as? [String: Any]) ?? ["raw": String(decoding: d, as: UTF8.self)])
        }

        /// A new ranker token, as the page gets one.
        func ranker() async throws -> String {
            let r = try await post("/foundry/rank/session", [String: Any]())
            XCTAssertEqual(r.status, 200, "\(r.json)")
            return try XCTUnwrap(r.json["ranker"] as? String)
        }

        /// `ranker`'s handout (GET /foundry/rank/next).
        func next(_ ranker: String) async throws -> (status: Int, json: [String: Any]) {
            let (status, data) = try await request("GET", "/foundry/rank/next?ranker=\(ranker)")
            return (status, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? ["raw": String(decoding: data, as: UTF8.self)])
        }

        /// A streamed response's events (the JSON objects before `[DONE]`) and whether `[DONE]` ended it.
        func stream(_ path: String, _ body: [String: Any]) async throws -> (events: [[String: Any]], done: Bool) {
            var b = body; b["stream"] = true
            let (status, data) = try await request("POST", path, body: b)
            XCTAssertEqual(status, 200, String(decoding: data, as: UTF8.self))
            let text = String(decoding: data, as: UTF8.self)
            var events: [[String: Any]] = [], done = false
            for block in text.components(separatedBy: "\n\n") where !block.isEmpty {
                XCTAssertTrue(block.hasPrefix("data: "), block)
                let payload = String(block.dropFirst(6))
                if payload == "[DONE]" { done = true; continue }
                events.append(try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any]))
            }
            return (events, done)
        }

        func stop() async { task.cancel(); _ = try? await task.value }
    }

    static func start(_ server: FoundryServer) async throws -> Running {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = server.application(logLevel: .critical) { continuation.yield($0) }
        let task = Task.detached {
            do { try await app.run() } catch { continuation.finish(); throw error }   // e.g. the port is taken: no hang
        }
        var it = ports.makeAsyncIterator()
        let next = await it.next()
        let port = try XCTUnwrap(next)
        return Running(port: port, task: task, key: server.options.apiKey)
    }

    static func chat(_ text: String, _ extra: [String: Any] = [:]) -> [String: Any] {
        var b: [String: Any] = ["model": "test-model", "messages": [["role": "user", "content": text]], "temperature": 0, "max_tokens": 12]
        for (k, v) in extra { b[k] = v }
        return b
    }

    static func content(_ json: [String: Any]) -> String? {
        ((json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
    }

    /// Chat and text completions, whole and streamed, on both backends: the streamed deltas add
    /// up to the whole answer, usage counts the tokens, and the first token's log-probability is
    /// the log-softmax of the model's own logits after the prompt (computed apart from the server).
    func testCompletionsWholeAndStreamed() async throws {
        for device in try TestDevices.all() {
            let server = try Self.server(on: device)
            let s = try await Self.start(server)
            let (status, whole) = try await s.post("/v1/chat/completions", Self.chat("which is larger: 3 or 5?"))
            XCTAssertEqual(status, 200, "\(whole)")
            let text = try XCTUnwrap(Self.content(whole))
            XCTAssertEqual(whole["object"] as? String, "chat.completion")
            let usage = try XCTUnwrap(whole["usage"] as? [String: Int])
            let tok = server.model.tokenizer
            let template = try ChatTemplate(tokenizer: tok)
            let promptTokens = try template.conversation([ChatMessage(role: "user", content: "which is larger: 3 or 5?")]).tokens + [template.assistantToken]
            XCTAssertEqual(usage["prompt_tokens"], promptTokens.count)
            XCTAssertEqual(usage["total_tokens"], promptTokens.count + (usage["completion_tokens"] ?? -1))

            let streamed = try await s.stream("/v1/chat/completions", Self.chat("which is larger: 3 or 5?", ["stream_options": ["include_usage": true]]))
            XCTAssertTrue(streamed.done)
            let choices = streamed.events.compactMap { ($0["choices"] as? [[String: Any]])?.first }
            XCTAssertEqual((choices.first?["delta"] as? [String: Any])?["role"] as? String, "assistant")
            let joined = choices.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined()
            XCTAssertEqual(joined, text)
            XCTAssertNotNil(choices.last?["finish_reason"] as? String)
            XCTAssertEqual((streamed.events.last?["usage"] as? [String: Int])?["prompt_tokens"], promptTokens.count)

            // Text completion with logprobs: the first token's value from an independent forward.
            let (st, c) = try await s.post("/v1/completions", ["prompt": "hello there", "max_tokens": 3, "temperature": 0, "logprobs": 3])
            XCTAssertEqual(st, 200, "\(c)")
            let choice = try XCTUnwrap((c["choices"] as? [[String: Any]])?.first)
            let lp = try XCTUnwrap(choice["logprobs"] as? [String: Any])
            let first = try XCTUnwrap((lp["token_logprobs"] as? [Double])?.first)
            let logits = try await server.model.engine.perform { () -> [Float] in
                let m = server.model.engine.model
                let cache = try m.makeCache(batch: 1)
                return try m.device.read(try m.decode(tokens: try tok.encode("hello there"), cache: cache))
            }
            let mx = logits.max()!
            let lse = Double(mx) + log(logits.reduce(0.0) { $0 + exp(Double($1 - mx)) })
            let argmax = logits.indices.max { logits[$0] < logits[$1] }!
            XCTAssertEqual(first, Double(logits[argmax]) - lse, accuracy: 1e-4)
            XCTAssertEqual((lp["tokens"] as? [String])?.first, tok.decode([Int32(argmax)]))
            XCTAssertEqual((lp["top_logprobs"] as? [[String: Double]])?.first?.count, 3)
            await s.stop()
        }
    }

    /// Eight requests at once (prompts of different lengths, some streamed) give the same text at
    /// temperature 0 as each one alone, and they really shared steps.
    func testConcurrentStreamsMatchOneAtATime() async throws {
        for device in try TestDevices.all() {
            let server = try Self.server(on: device)
            let s = try await Self.start(server)
            let prompts = ["hi", "what is 2+3?", "tell me a story about a cat", "ok", "which is larger: 41 or 14?", "abc", "zzz zzz", "why?"]
            var alone: [String] = []
            for p in prompts {
                let r = try await s.post("/v1/chat/completions", Self.chat(p))
                alone.append(try XCTUnwrap(Self.content(r.json)))
            }
            let stepsBefore = server.model.engine.steps
            let together = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for (i, p) in prompts.enumerated() {
                    group.addTask {
                        if i % 2 == 0 {
                            let r = try await s.stream("/v1/chat/completions", Self.chat(p))
                            return (i, r.events.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String }.joined())
                        }
                        return (i, Self.content(try await s.post("/v1/chat/completions", Self.chat(p)).json) ?? "?")
                    }
                }
                var out = [String](repeating: "", count: prompts.count)
                for try await (i, t) in group { out[i] = t }
                return out
            }
            XCTAssertEqual(together, alone, device.backend)
            let aloneTokens = alone.reduce(0) { $0 + $1.unicodeScalars.count + 1 }
            XCTAssertLessThan(server.model.engine.steps - stepsBefore, aloneTokens, "the requests shared decoding steps")
            await s.stop()
        }
    }

    /// Malformed requests each get their 4xx in OpenAI's error shape, and the server goes on.
    func testMalformedRequestsGetTheirErrors() async throws {
        var options = Self.testOptions
        options.maxBodyBytes = 4096
        let s = try await Self.start(try Self.server(on: CPUDevice(), options: options))
        let long = String(repeating: "a", count: 80)
        let cases: [(String, String, Data?, Any?, Int, String?)] = [
            ("POST", "/v1/chat/completions", Data("{not json".utf8), nil, 400, nil),
            ("POST", "/v1/chat/completions", nil, [1, 2], 400, nil),
            ("POST", "/v1/chat/completions", nil, ["messages": []], 400, "messages"),
            ("POST", "/v1/chat/completions", nil, ["messages": [["role": "tool", "content": "x"]]], 400, "messages[0].role"),
            ("POST", "/v1/chat/completions", nil, Self.chat("hi", ["temperature": "hot"]), 400, "temperature"),
            ("POST", "/v1/chat/completions", nil, Self.chat("hi", ["temperature": 2.5]), 400, "temperature"),
            ("POST", "/v1/chat/completions", nil, Self.chat("hi", ["n": 0]), 400, "n"),
            ("POST", "/v1/chat/completions", nil, Self.chat("hi", ["max_tokens": -3]), 400, "max_tokens"),
            ("POST", "/v1/chat/completions", nil, Self.chat("hi", ["top_p": 0]), 400, "top_p"),
            ("POST", "/v1/chat/completions", nil, Self.chat("hi", ["stop": [1, 2]]), 400, "stop"),
            ("POST", "/v1/chat/completions", nil, Self.chat(long), 400, "messages"),
            ("POST", "/v1/completions", nil, ["prompt": 5], 400, "prompt"),
            ("POST", "/v1/completions", nil, ["max_tokens": 5], 400, "prompt"),
            ("POST", "/v1/completions", nil, ["prompt": [999999]], 400, "prompt"),
            ("POST", "/v1/completions", Data(String(repeating: " ", count: 5000).utf8), nil, 413, nil),
            ("GET", "/v1/nowhere", nil, nil, 404, nil),
        ]
        for (method, path, raw, body, status, param) in cases {
            let (got, data) = try await s.request(method, path, body: body, raw: raw)
            XCTAssertEqual(got, status, "\(path) \(String(describing: body)): \(String(decoding: data, as: UTF8.self))")
            let error = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["error"] as? [String: Any]
            XCTAssertNotNil(error?["message"] as? String, String(decoding: data, as: UTF8.self))
            XCTAssertNotNil(error?["type"] as? String)
            if let param { XCTAssertEqual(error?["param"] as? String, param, String(decoding: data, as: UTF8.self)) }
            let (health, _) = try await s.request("GET", "/health")
            XCTAssertEqual(health, 200)
        }
        await s.stop()
    }

    /// With --api-key every request but the page needs the Bearer token.
    func testAPIKeyIsRequired() async throws {
        var options = Self.testOptions
        options.apiKey = "sekret"
        let s = try await Self.start(try Self.server(on: CPUDevice(), options: options))
        for key in ["", "wrong", "sekretX"] {
            let (status, data) = try await s.request("POST", "/v1/chat/completions", body: Self.chat("hi"), key: key)
            XCTAssertEqual(status, 401, String(decoding: data, as: UTF8.self))
            XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("authentication_error"))
        }
        let wrong = try await s.request("GET", "/health", key: "nope")
        XCTAssertEqual(wrong.status, 401)
        let health = try await s.request("GET", "/health")
        XCTAssertEqual(health.status, 200)
        let chat = try await s.request("POST", "/v1/chat/completions", body: Self.chat("hi"))
        XCTAssertEqual(chat.status, 200)
        let page = try await s.request("GET", "/", key: "")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(String(decoding: page.data, as: UTF8.self).contains("<title>Foundry</title>"))
        await s.stop()
        // And the command refuses a public address without a key, before loading anything.
        let r = try CLI.run(["serve", "--model", "/nonexistent", "--host", "0.0.0.0"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("without --api-key") && r.stderr.split(separator: "\n").count == 1, r.stderr)
    }

    /// Past the slots and the queue a request is refused with 503 at once; the waiting one still completes.
    func testAFullQueueAnswers503() async throws {
        var options = Self.testOptions
        options.slots = 1; options.queue = 1
        let server = try Self.server(on: CPUDevice(), options: options)
        let s = try await Self.start(server)
        let gate = DispatchSemaphore(value: 0)
        // Hold the engine's thread so nothing finishes while the queue fills.
        let held = Task { try await server.model.engine.perform { gate.wait() } }
        try await Task.sleep(nanoseconds: 100_000_000)
        let first = Task { try await s.post("/v1/chat/completions", Self.chat("hi")) }
        let second = Task { try await s.post("/v1/chat/completions", Self.chat("ok")) }
        while server.model.engine.load.waiting < 2 { try await Task.sleep(nanoseconds: 10_000_000) }
        let (status, json) = try await s.post("/v1/chat/completions", Self.chat("one too many"))
        XCTAssertEqual(status, 503, "\(json)")
        XCTAssertTrue(((json["error"] as? [String: Any])?["message"] as? String ?? "").contains("busy"), "\(json)")
        gate.signal()
        try await held.value
        let a = try await first.value, b = try await second.value
        XCTAssertEqual(a.status, 200)
        XCTAssertEqual(b.status, 200)
        await s.stop()
    }

    /// A client that goes away mid-stream frees its slot: the engine finishes it as cancelled
    /// long before its max_tokens, and the next request is served.
    func testADisconnectedStreamFreesItsSlot() async throws {
        var options = Self.testOptions
        options.slots = 1; options.queue = 0
        let server = try Self.server(on: CPUDevice(), options: options)
        let s = try await Self.start(server)
        // A seed whose 60 tokens run to their length when nobody hangs up (a random model may
        // draw its end-of-text early): nothing but the disconnect then ends it early.
        var body: [String: Any] = [:]
        for seed in 1...40 {
            body = ["prompt": "a", "max_tokens": 60, "temperature": 0.9, "top_k": 3, "seed": seed, "stop": "[MASK]"]
            let (_, full) = try await s.post("/v1/completions", body)
            if (full["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String == "length" { break }
            body = [:]
        }
        XCTAssertFalse(body.isEmpty, "no seed ran to its length")
        body["stream"] = true
        let steps = server.model.engine.steps
        // A raw socket: send the request, read the first event, hang up.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET); addr.sin_port = in_port_t(UInt16(s.port).bigEndian); addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        XCTAssertEqual(connected, 0)
        let json = try JSONSerialization.data(withJSONObject: body)
        let head = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(json.count)\r\n\r\n"
        let bytes = Array(head.utf8) + Array(json)
        XCTAssertEqual(bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }, bytes.count)
        var buffer = [UInt8](repeating: 0, count: 4096)
        XCTAssertGreaterThan(recv(fd, &buffer, buffer.count, 0), 0)
        close(fd)
        var waited = 0
        while server.model.engine.load.running > 0 && waited < 200 { try await Task.sleep(nanoseconds: 20_000_000); waited += 1 }
        XCTAssertEqual(server.model.engine.load.running, 0)
        XCTAssertLessThan(server.model.engine.steps - steps, 55, "cancelled well before its 60 tokens")
        let after = try await s.post("/v1/chat/completions", Self.chat("hi"))
        XCTAssertEqual(after.status, 200)
        await s.stop()
    }

    /// Six people rank at once: each gets a different prompt, each submission is one line, a
    /// second submission of a prompt is refused, and a restarted desk resumes where the file ends.
    func testRankingAppendsOneLinePerSubmission() async throws {
        let file = CLI.tempDir() + "/rankings.jsonl"
        var options = Self.testOptions
        options.k = 3
        let prompts = (0..<8).map { "question number \($0)?" }
        let server = try Self.server(on: CPUDevice(), options: options, prompts: prompts, rankings: file) { _, responses in
            responses.map { Double($0.count) }   // a stand-in reward: longer is better
        }
        let s = try await Self.start(server)
        var people: [String] = []
        for _ in 0..<6 { people.append(try await s.ranker()) }
        let handouts = try await withThrowingTaskGroup(of: [String: Any].self) { group in
            for c in people {
                group.addTask {
                    let (status, json) = try await s.next(c)
                    XCTAssertEqual(status, 200, "\(json)")
                    var h = json; h["ranker"] = c
                    return h
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let indices = handouts.compactMap { $0["index"] as? Int }
        XCTAssertEqual(Set(indices).count, 6, "each person gets a different prompt")
        XCTAssertTrue(handouts.allSatisfy { h in
            let r = h["responses"] as? [String] ?? []
            return r.count == 3 && Set(r).count == 3
        }, "three distinct responses each")
        let receipts = try await withThrowingTaskGroup(of: (Int, [String: Any]).self) { group in
            for (n, h) in handouts.enumerated() {
                group.addTask {
                    var body: [String: Any] = ["ranker": h["ranker"]!, "index": h["index"]!, "lease": h["lease"]!]
                    if n == 5 { body["skip"] = true } else { body["ranking"] = [2, 0, 1] }
                    let r = try await s.post("/foundry/rank/submit", body)
                    return (r.status, r.json)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertTrue(receipts.allSatisfy { $0.0 == 200 }, "\(receipts)")
        let scored = receipts.first { $0.1["scores"] != nil }
        XCTAssertEqual((scored?.1["scores"] as? [Double])?.count, 3)
        // Agreement counted by hand over the pairs of [2, 0, 1] that the scores tell apart.
        let sc = scored?.1["scores"] as? [Double] ?? []
        let pairs = [(2, 0), (2, 1), (0, 1)].filter { sc.count == 3 && sc[$0.0] != sc[$0.1] }
        XCTAssertEqual(scored?.1["compared"] as? Int, pairs.count)
        if !pairs.isEmpty {
            let agree = Double(pairs.filter { sc[$0.0] > sc[$0.1] }.count) / Double(pairs.count)
            XCTAssertEqual(scored?.1["agreement"] as? Double ?? -1, agree, accuracy: 1e-12)
        }
        let rows = try Datasets.readRankings(path: file)
        XCTAssertEqual(rows.count, 5)
        XCTAssertEqual(Set(rows.map(\.prompt)).count, 5)
        XCTAssertTrue(rows.allSatisfy { $0.ranking == [2, 0, 1] && $0.responses.count == 3 })
        XCTAssertEqual(try Datasets.readPrompts(path: file + ".skipped").count, 1)
        let h0 = handouts[0]
        let again = try await s.post("/foundry/rank/submit", ["ranker": h0["ranker"]!, "index": h0["index"]!, "lease": h0["lease"]!, "ranking": [0, 1, 2]])
        XCTAssertEqual(again.status, 409, "\(again.json)")
        // A bad ranking of a held prompt: 400 naming the field, and the prompt stays held.
        let held = try await s.next(people[0])
        let bad = try await s.post("/foundry/rank/submit", ["ranker": people[0], "index": held.json["index"]!, "lease": held.json["lease"]!, "ranking": [0, 0, 1]])
        XCTAssertEqual(bad.status, 400, "\(bad.json)")
        XCTAssertEqual((bad.json["error"] as? [String: Any])?["param"] as? String, "ranking")
        await s.stop()
        // A new desk on the same file hands out only the two prompts nobody ranked or skipped.
        let restarted = try Self.server(on: CPUDevice(), options: options, prompts: prompts, rankings: file)
        let desk = try XCTUnwrap(restarted.desk)
        var left: [Int] = []
        for _ in 0..<3 {
            let session = await desk.startSession()
            let token = try XCTUnwrap(try JSONSerialization.jsonObject(with: session) as? [String: Any])["ranker"] as? String
            let data = try await desk.next(ranker: token)
            let h = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            if let i = h["index"] as? Int { left.append(i) } else { XCTAssertNotNil(h["note"], "the last two are held by the others") }
        }
        // (The prompt people[0] holds now was never ranked: after the restart it is free again.)
        XCTAssertEqual(Set(left), Set(0..<8).subtracting(indices))
    }

    /// A conversation longer than the context: refused as it is (OpenAI's behaviour), answered
    /// with `foundry_fit_context` by leaving out the earliest turns (a user turn and its reply
    /// together), saying how many, whole and streamed: what the page sends.
    func testFitContextDropsTheEarliestTurns() async throws {
        let s = try await Self.start(try Self.server(on: CPUDevice()))
        var messages: [[String: Any]] = []
        for i in 0..<3 {
            messages.append(["role": "user", "content": "question number \(i) is this?"])
            messages.append(["role": "assistant", "content": "the answer is \(i) today."])
        }
        messages.append(["role": "user", "content": "and now?"])
        let body: [String: Any] = ["messages": messages, "max_tokens": 8, "temperature": 0]
        let refused = try await s.post("/v1/chat/completions", body)
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual((refused.json["error"] as? [String: Any])?["code"] as? String, "context_length_exceeded")
        var fit = body; fit["foundry_fit_context"] = true
        let ok = try await s.post("/v1/chat/completions", fit)
        XCTAssertEqual(ok.status, 200, "\(ok.json)")
        let dropped = try XCTUnwrap(ok.json["foundry_dropped_messages"] as? Int)
        XCTAssertEqual(dropped % 2, 0); XCTAssertGreaterThan(dropped, 0); XCTAssertLessThan(dropped, messages.count)
        // 64 tokens of context, room for the 8 new ones: what is kept fits, one more pair would not.
        let usage = try XCTUnwrap(ok.json["usage"] as? [String: Any])
        XCTAssertLessThanOrEqual((usage["prompt_tokens"] as? Int ?? 99) + 8, 64)
        let streamed = try await s.stream("/v1/chat/completions", fit)
        XCTAssertEqual(streamed.events.first?["foundry_dropped_messages"] as? Int, dropped)
        await s.stop()
    }

    /// Stop strings end the text before them, even across tokens; nothing of one is ever shown.
    func testStopStringsAcrossTokens() throws {
        let tok = CharTokenizer(chars: Self.alphabet)
        var stream = TextStream(tokenizer: tok, stops: ["cat", "zz"])
        var shown = ""
        var stopped = false
        for ch in "the ca" + "t sat" {
            let r = stream.push(try tok.encode(String(ch))[0])
            shown += r.text
            if r.stopped { stopped = true; break }
        }
        XCTAssertTrue(stopped)
        XCTAssertEqual(shown, "the ")
        var open = TextStream(tokenizer: tok, stops: ["cat"])
        var text = ""
        for ch in "a c" { text += open.push(try tok.encode(String(ch))[0]).text }
        XCTAssertEqual(text, "a ", "a trailing 'c' may begin 'cat': held back")
        XCTAssertEqual(open.flush(), "c")
    }
}
