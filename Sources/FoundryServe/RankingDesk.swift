import Foundation
import FoundryCore
import FoundryFiles
import FoundryData

/// The Rank tab's bookkeeping: who ranks which prompt, the K distinct responses each was shown,
/// and the rankings file.
///
/// - A person first gets a ranker token (`startSession`); every later call names it. Anonymous
///   calls are refused, so nobody can lock prompts without holding a session.
/// - A ranker holds at most one prompt at a time (a lease with its own id). A submission or a
///   skip is accepted only from the lease's holder, only for the lease it names: a late submit
///   after the lease ran out and moved to someone else gets 409 and writes nothing, so no
///   ranking is ever stored against responses its author did not see.
/// - The K responses shown are distinct (resampled, at a raised temperature if need be, and the
///   temperatures recorded); a model that keeps repeating itself shows fewer, saying so, and a
///   prompt with a single distinct answer is skipped with the reason.
/// - Each submission is one line appended through `LineLog` (fsync'd before the answer, rolled
///   back if the write fails, a torn tail moved aside first). Being an actor, the desk appends
///   one line at a time: two people submitting together cannot interleave or duplicate lines.
/// - A restarted server skips the prompts already in the rankings file or its `.skipped` companion.
public actor RankingDesk {
    public nonisolated let k: Int
    let prompts: [String]
    let rankings: LineLog, skips: LineLog
    let model: ServedModel
    let temperature: Float, maxTokens: Int
    /// Seeds prompt i's sampling with seed + i (nil: random draws).
    let seed: UInt64?
    /// Scores responses to a prompt (a reward model), when one was given.
    let score: (@Sendable (String, [String]) async throws -> [Double])?
    /// A lease nobody submits for this long is handed to the next person who asks.
    let leaseSeconds: TimeInterval
    /// Sampling rounds before the desk settles for fewer than K distinct responses, and the
    /// temperature of each as a multiple of the asked one (capped at 2, or the asked temperature
    /// if higher). A confident SFT model (the pipeline's tiny one answers 87% of held-out prompts
    /// right) repeated itself so often that with four rounds, three quarters of 400 rankings had
    /// fewer than 4 responses; the later rounds also draw more samples per missing response.
    static let roundTemperatures: [Float] = [1, 1, 1.5, 2, 2, 2]

    var done: Set<Int> = []
    var ranked = 0, skipped = 0
    var rankers: Set<String> = []
    /// The prompt each ranker holds, and each held prompt's lease.
    var held: [String: Int] = [:]
    var leases: [Int: Lease] = [:]

    /// Responses sampled for one prompt: distinct, each with the temperature it came at.
    struct Sampled: Sendable {
        let responses: [String]
        let temperatures: [Float]
        let note: String?
    }

    /// One prompt handed to one ranker: a class, so a `next` waiting on its sampling can tell
    /// (by identity) whether the lease it waited for is still the prompt's.
    final class Lease {
        let id: String, ranker: String, since: Date
        let sampling: Task<Sampled?, Error>
        var sampled: Sampled?
        init(id: String, ranker: String, since: Date, sampling: Task<Sampled?, Error>) {
            self.id = id; self.ranker = ranker; self.since = since; self.sampling = sampling
        }
    }

    public init(prompts promptsPath: String, rankings path: String, k: Int, model: ServedModel, temperature: Float, maxTokens: Int,
                score: (@Sendable (String, [String]) async throws -> [Double])? = nil,
                seed: UInt64? = nil, leaseSeconds: TimeInterval = 30 * 60, writer: LineLog.Writer? = nil,
                say: (String) -> Void = Datasets.printToStderr) throws {
        prompts = try Datasets.readPrompts(path: promptsPath).map(\.prompt)
        guard !prompts.isEmpty else { throw FoundryError("\(promptsPath) has no prompts to rank") }
        guard model.template != nil else {
            throw FoundryError("the Rank tab needs a chat model (its tokenizer has no <|user|>/<|assistant|>): serve an SFT, PPO, DPO or GRPO checkpoint")
        }
        rankings = LineLog(path: path, writer: writer)
        skips = LineLog(path: path + ".skipped", writer: writer)
        self.k = k; self.model = model
        self.temperature = temperature; self.maxTokens = maxTokens; self.score = score; self.leaseSeconds = leaseSeconds
        self.seed = seed
        // A torn last line (a crash or a full disk mid-write) goes aside before anything is read or appended.
        for log in [rankings, skips] {
            if let r = try log.repairTornTail() {
                say("\(log.path) ended in a torn line (\(r.movedBytes) bytes without a newline): moved it to \(log.tornPath)")
            }
        }
        // Resume: each prompt already ranked or skipped counts once per occurrence, in file order.
        var seen: [String: Int] = [:]
        if FileManager.default.fileExists(atPath: path) {
            for r in try Datasets.readRankings(path: path, warn: say) { seen[r.prompt, default: 0] += 1; ranked += 1 }
        }
        if FileManager.default.fileExists(atPath: skips.path) {
            for p in try Datasets.readPrompts(path: skips.path, warn: say) { seen[p.prompt, default: 0] += 1; skipped += 1 }
        }
        for (i, p) in prompts.enumerated() where (seen[p] ?? 0) > 0 {
            seen[p]! -= 1
            done.insert(i)
        }
    }

    static func token() -> String {
        (0..<2).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16).leftPadded(16) }.joined()
    }

    struct Session: Encodable { let ranker: String }

    /// A new ranker token: what the page asks for once and keeps across reloads.
    public func startSession() -> Data {
        let t = Self.token()
        rankers.insert(t)
        return OpenAI.encode(Session(ranker: t))
    }

    struct Progress: Encodable { let ranked: Int; let skipped: Int; let total: Int }
    var progress: Progress { Progress(ranked: ranked, skipped: skipped, total: prompts.count) }

    struct Handout: Encodable {
        let done: Bool
        var index: Int? = nil, lease: String? = nil, prompt: String? = nil, responses: [String]? = nil
        /// Why fewer than K responses are shown, or why no prompt is handed out now.
        var note: String? = nil
        let progress: Progress
    }

    func known(_ ranker: String?) throws -> String {
        guard let ranker, !ranker.isEmpty else {
            throw APIError(400, "say who is ranking: start a session with POST /foundry/rank/session and send its 'ranker' token",
                           param: "ranker", code: "no_ranker")
        }
        guard rankers.contains(ranker) else {
            throw APIError(400, "unknown ranker token (the server may have restarted): reload the page to start a new session",
                           param: "ranker", code: "unknown_ranker")
        }
        return ranker
    }

    /// The prompt `ranker` should rank now with its responses (the same one again until it is
    /// submitted or skipped), or `done` when every prompt is ranked or skipped.
    public func next(ranker given: String?) async throws -> Data {
        let ranker = try known(given)
        while true {
            if let i = held[ranker], let lease = leases[i], lease.ranker == ranker {
                let sampled: Sampled?
                do { sampled = try await lease.sampling.value } catch {
                    if leases[i] === lease { leases[i] = nil; held[ranker] = nil }
                    throw error
                }
                guard leases[i] === lease else { continue }   // skipped or handed on while sampling
                guard let sampled else {
                    try skip(i, reason: "the model gave the same response every time")
                    continue
                }
                lease.sampled = sampled
                return OpenAI.encode(Handout(done: false, index: i, lease: lease.id, prompt: prompts[i], responses: sampled.responses,
                                             note: sampled.note, progress: progress))
            }
            held[ranker] = nil
            let now = Date()
            guard let i = prompts.indices.first(where: { i in
                !done.contains(i) && (leases[i].map { $0.sampled != nil && now.timeIntervalSince($0.since) > leaseSeconds } ?? true)
            }) else {
                let open = prompts.count - done.count
                return OpenAI.encode(Handout(done: open == 0, note: open == 0 ? nil
                    : "the \(open) prompt\(open == 1 ? " left is" : "s left are") being ranked by someone else; try again later",
                    progress: progress))
            }
            if let stale = leases[i] { held[stale.ranker] = nil }   // its holder left it for too long
            let (model, prompt, k, t, maxTokens) = (self.model, prompts[i], self.k, temperature, self.maxTokens)
            let seed = self.seed.map { $0 &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15 }
            let task = Task { try await Self.sample(model, prompt: prompt, k: k, temperature: t, maxTokens: maxTokens, seed: seed) }
            leases[i] = Lease(id: Self.token(), ranker: ranker, since: now, sampling: task)
            held[ranker] = i
        }
    }

    /// Up to `k` distinct responses: rounds of sampling, the later ones at a higher temperature
    /// (`roundTemperatures`, at most 2 — or the asked temperature if that is higher). A response that
    /// could not be a training row (its text renders a chat token) is left out. Nil when only one
    /// distinct response came.
    static func sample(_ model: ServedModel, prompt: String, k: Int, temperature: Float, maxTokens: Int, seed: UInt64?) async throws -> Sampled? {
        var responses: [String] = [], temperatures: [Float] = [], tries = 0
        let ceiling = max(temperature, 2)
        for (round, scale) in roundTemperatures.enumerated() where responses.count < k {
            let t = min(ceiling, temperature * scale)
            let want = k - responses.count
            let got = try await model.sampleReplies(to: prompt, n: round == 0 ? want : min(4 * want, 16), temperature: t, maxTokens: maxTokens,
                                                    seed: seed.map { $0 &+ UInt64(round) &* 1_000_003 })
            tries += got.count
            for r in got where responses.count < k && !responses.contains(r) && model.canTrain(prompt: prompt, response: r) {
                responses.append(r); temperatures.append(t)
            }
        }
        guard responses.count >= 2 else { return nil }
        let raised = temperatures.contains { $0 > temperature }
        var note: String?
        if responses.count < k {
            note = "the model gave only \(responses.count) different responses in \(tries) tries"
        } else if raised {
            note = "some responses were sampled at a higher temperature (up to \(temperatures.max()!)) to get \(k) different ones"
        }
        return Sampled(responses: responses, temperatures: temperatures, note: note)
    }

    /// Marks prompt `i` skipped, writing `reason` beside it in the skips file.
    private func skip(_ i: Int, reason: String?) throws {
        guard !done.contains(i) else { return }
        var fields: [(String, JSONValue)] = [("prompt", .string(prompts[i]))]
        if let reason { fields.append(("reason", .string(reason))) }
        try write(Datasets.line(.object(fields)), to: skips)
        done.insert(i); skipped += 1
        if let lease = leases.removeValue(forKey: i), held[lease.ranker] == i { held[lease.ranker] = nil }
    }

    struct Receipt: Encodable { let ok: Bool; let progress: Progress; let scores: [Double]?; let agreement: Double?; var compared: Int? = nil }

    /// `{"ranker", "index", "lease", "ranking": [best, ..., worst], "ties": [[i, j]]}` or
    /// `{"ranker", "index", "lease", "skip": true}`.
    public func submit(_ body: Data) async throws -> Data {
        let json: JSONValue
        do { json = try JSONParser.parse(body) } catch let e as JSONParseError {
            throw APIError(400, "the request body is not valid JSON: \(e.message) at byte \(e.offset)")
        }
        guard json.object != nil else {
            throw APIError(400, "send {\"ranker\", \"index\", \"lease\", \"ranking\": [...]} or {\"ranker\", \"index\", \"lease\", \"skip\": true}")
        }
        let f = Fields(json)
        let ranker = try known(try f.string("ranker"))
        guard let i = try f.int("index", in: 0...Int(Int32.max)) else {
            throw APIError.invalid("index", "'index' is missing: send the index of the prompt you were handed")
        }
        guard let leaseID = try f.string("lease") else {
            throw APIError.invalid("lease", "'lease' is missing: send the lease id that came with the prompt")
        }
        guard i < prompts.count else { throw APIError.invalid("index", "there are \(prompts.count) prompts; \(i) is not one of them") }
        guard !done.contains(i) else { throw APIError(409, "prompt \(i) is already ranked or skipped: load the next one", code: "already_ranked") }
        guard let lease = leases[i], lease.id == leaseID, lease.ranker == ranker else {
            throw APIError(409, "you no longer hold prompt \(i): your hold ran out (\(Int(leaseSeconds / 60)) minutes untouched) and the prompt "
                + "went to someone else with other responses, or the server restarted. Nothing was saved; load the next prompt",
                code: "lease_moved")
        }
        guard let sampled = lease.sampled else {
            throw APIError(409, "prompt \(i)'s responses are still being sampled: wait for them", code: "not_ready")
        }
        if try f.bool("skip") == true {
            try skip(i, reason: nil)
            return OpenAI.encode(Receipt(ok: true, progress: progress, scores: nil, agreement: nil))
        }
        // The row as it will be written, checked as `foundry reward` will read it; the
        // temperatures only when some response was sampled above the asked one.
        let raised = sampled.temperatures.contains { $0 != temperature }
        let row: RankingExample
        do {
            row = try Datasets.ranking(from: .object([
                ("prompt", .string(prompts[i])), ("responses", .array(sampled.responses.map { .string($0) })),
                ("ranking", f["ranking"] ?? .null), ("ties", f["ties"] ?? .null),
                ("temperatures", raised ? .array(sampled.temperatures.map { .number(Double($0)) }) : .null)]))
        } catch let e as Datasets.RowError {
            throw APIError.invalid(e.field ?? "ranking", "\(e) (the \(sampled.responses.count) responses are numbered 0-\(sampled.responses.count - 1))")
        }
        try write(Datasets.line(row), to: rankings)
        done.insert(i); leases[i] = nil; held[ranker] = nil; ranked += 1
        var scores: [Double]?, agreement: Double?, compared: Int?
        if let score {
            let s = try await score(prompts[i], sampled.responses)
            scores = s
            // Only pairs the person and the reward model both tell apart count.
            let order = row.ranking
            let both = RankingExample.toldApart(row.levels).filter { s[order[$0.better]] != s[order[$0.worse]] }
            let agree = both.filter { s[order[$0.better]] > s[order[$0.worse]] }.count
            compared = both.count
            agreement = both.isEmpty ? nil : Double(agree) / Double(both.count)
        }
        return OpenAI.encode(Receipt(ok: true, progress: progress, scores: scores, agreement: agreement, compared: compared))
    }

    private func write(_ line: [UInt8], to log: LineLog) throws {
        do { try log.append(line) } catch let e as LineLog.WriteFailure {
            throw APIError(e.diskFull ? 507 : 500, "\(e)", type: "server_error", code: "write_failed")
        } catch let e as FoundryError {
            throw APIError(500, e.message, type: "server_error", code: "write_failed")
        }
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
