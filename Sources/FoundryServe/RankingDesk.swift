import Foundation
import FoundryCore
import FoundryData

/// The Rank tab's bookkeeping: which prompt each person ranks next, their K sampled responses,
/// and the rankings file. A prompt is handed to one person at a time (a lease, kept for that
/// person across page reloads); each submission is appended as one line and fsync'd before
/// the answer, so nothing acknowledged is lost. A restarted server skips the prompts already
/// in the rankings file (or in its `.skipped` companion). Being an actor, it appends one line
/// at a time: two people submitting together cannot interleave or duplicate lines.
public actor RankingDesk {
    public nonisolated let k: Int
    let prompts: [String]
    let path: String
    var skippedPath: String { path + ".skipped" }
    let model: ServedModel
    let temperature: Float, maxTokens: Int
    /// Scores responses to a prompt (a reward model), when one was given.
    let score: (@Sendable (String, [String]) async throws -> [Double])?
    var done: Set<Int> = []
    var ranked = 0, skipped = 0
    struct Lease { let client: String; var responses: [String]?; let since: Date }
    var leases: [Int: Lease] = [:]
    /// A lease nobody submits for this long is handed to the next person who asks.
    let leaseSeconds: TimeInterval = 30 * 60

    public init(prompts promptsPath: String, rankings: String, k: Int, model: ServedModel, temperature: Float, maxTokens: Int,
                score: (@Sendable (String, [String]) async throws -> [Double])? = nil) throws {
        prompts = try Datasets.readPrompts(path: promptsPath).map(\.prompt)
        guard !prompts.isEmpty else { throw FoundryError("\(promptsPath) has no prompts to rank") }
        guard model.template != nil else {
            throw FoundryError("the Rank tab needs a chat model (its tokenizer has no <|user|>/<|assistant|>): serve an SFT, PPO, DPO or GRPO checkpoint")
        }
        self.path = rankings; self.k = k; self.model = model
        self.temperature = temperature; self.maxTokens = maxTokens; self.score = score
        // Resume: each prompt already ranked or skipped counts once per occurrence, in file order.
        var seen: [String: Int] = [:]
        if FileManager.default.fileExists(atPath: rankings) {
            for r in try Datasets.readRankings(path: rankings) { seen[r.prompt, default: 0] += 1; ranked += 1 }
        }
        if FileManager.default.fileExists(atPath: rankings + ".skipped") {
            for p in try Datasets.readPrompts(path: rankings + ".skipped") { seen[p.prompt, default: 0] += 1; skipped += 1 }
        }
        for (i, p) in prompts.enumerated() where (seen[p] ?? 0) > 0 {
            seen[p]! -= 1
            done.insert(i)
        }
    }

    struct Progress: Encodable { let ranked: Int; let skipped: Int; let total: Int }
    var progress: Progress { Progress(ranked: ranked, skipped: skipped, total: prompts.count) }

    struct Handout: Encodable {
        let done: Bool; let index: Int?; let prompt: String?; let responses: [String]?; let progress: Progress
    }

    /// The prompt `client` should rank now with its K responses (the same one again until it is
    /// submitted or skipped), or `done` when every prompt is ranked or skipped.
    public func next(client: String) async throws -> Data {
        let now = Date()
        if !client.isEmpty, let (i, lease) = leases.first(where: { $0.value.client == client }), let r = lease.responses {
            return OpenAI.encode(Handout(done: false, index: i, prompt: prompts[i], responses: r, progress: progress))
        }
        guard let i = prompts.indices.first(where: { i in
            !done.contains(i) && (leases[i].map { now.timeIntervalSince($0.since) > leaseSeconds && $0.responses != nil } ?? true)
        }) else {
            return OpenAI.encode(Handout(done: true, index: nil, prompt: nil, responses: nil, progress: progress))
        }
        leases[i] = Lease(client: client, responses: nil, since: now)   // held while the responses are sampled
        do {
            let responses = try await model.sampleReplies(to: prompts[i], n: k, temperature: temperature, maxTokens: maxTokens)
            leases[i]?.responses = responses
            return OpenAI.encode(Handout(done: false, index: i, prompt: prompts[i], responses: responses, progress: progress))
        } catch {
            leases[i] = nil
            throw error
        }
    }

    struct Receipt: Encodable { let ok: Bool; let progress: Progress; let scores: [Double]?; let agreement: Double?; var compared: Int? = nil }

    /// `{"index": i, "ranking": [best, ..., worst]}` or `{"index": i, "skip": true}`.
    public func submit(_ body: Data) async throws -> Data {
        let json: JSONValue
        do { json = try JSONParser.parse(body) } catch let e as JSONParseError {
            throw APIError(400, "the request body is not valid JSON: \(e.message) at byte \(e.offset)")
        }
        let f = Fields(json)
        guard json.object != nil, let i = try f.int("index", in: 0...Int(Int32.max)) else {
            throw APIError(400, "send {\"index\": i, \"ranking\": [...]} or {\"index\": i, \"skip\": true}", param: "index")
        }
        guard i < prompts.count else { throw APIError.invalid("index", "there are \(prompts.count) prompts; \(i) is not one of them") }
        guard !done.contains(i) else { throw APIError(409, "prompt \(i) is already ranked or skipped: load the next one", code: "already_ranked") }
        guard let responses = leases[i]?.responses else {
            throw APIError(409, "prompt \(i) is not handed out (the server may have restarted): load the next one", code: "not_handed_out")
        }
        if try f.bool("skip") == true {
            try append(Datasets.line(RLPrompt(prompt: prompts[i])), to: skippedPath)
            done.insert(i); leases[i] = nil; skipped += 1
            return OpenAI.encode(Receipt(ok: true, progress: progress, scores: nil, agreement: nil))
        }
        guard let order = f["ranking"]?.array?.compactMap(\.int), order.count == f["ranking"]?.array?.count,
              order.sorted() == Array(0..<responses.count) else {
            throw APIError.invalid("ranking", "'ranking' must list each of the \(responses.count) responses' indices (0-\(responses.count - 1)) once, best first")
        }
        try append(Datasets.line(RankingExample(prompt: prompts[i], responses: responses, ranking: order)), to: path)
        done.insert(i); leases[i] = nil; ranked += 1
        var scores: [Double]?, agreement: Double?, compared: Int?
        if let score {
            let s = try await score(prompts[i], responses)
            scores = s
            // Only pairs the reward model tells apart count: among equal scores (identical
            // responses, often) the person's order says nothing the model could agree with.
            var agree = 0, pairs = 0
            for a in 0..<order.count { for b in (a + 1)..<order.count where s[order[a]] != s[order[b]] {
                pairs += 1
                if s[order[a]] > s[order[b]] { agree += 1 }
            } }
            compared = pairs
            agreement = pairs > 0 ? Double(agree) / Double(pairs) : nil
        }
        return OpenAI.encode(Receipt(ok: true, progress: progress, scores: scores, agreement: agreement, compared: compared))
    }

    /// Appends one line and forces it to disk before returning.
    private func append(_ line: [UInt8], to file: String) throws {
        let fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard fd >= 0 else { throw APIError(500, "cannot open \(file) to append: \(String(cString: strerror(errno)))", type: "server_error") }
        defer { close(fd) }
        let bytes = line + [0x0A]
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            throw APIError(500, "could not write to \(file): \(String(cString: strerror(errno)))", type: "server_error")
        }
    }
}
