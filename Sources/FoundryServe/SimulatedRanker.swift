import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import FoundryCore
import FoundryData

/// Lines written on one thread and printed on another.
final class ProgressLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ line: String) { lock.withLock { lines.append(line) } }
    func take() -> [String] { lock.withLock { defer { lines = [] }; return lines } }
}

/// A simulated person on the Rank tab: serves the model with the page's endpoints on a free
/// loopback port, then ranks through exactly the HTTP calls the page makes (a session, next,
/// submit with the lease and ties), judging as `SynthTask.judge` does with the answers of the
/// prompts file. What `foundry pipeline --rankings-from page` runs, and what a test can run.
public enum SimulatedRanker {
    public static func collect(_ job: PageRankingJob, say: (String) -> Void) throws -> PageRankingSummary {
        let rows = try Datasets.readPrompts(path: job.prompts)
        var answers: [String: String] = [:]
        for r in rows { if let a = r.answer { answers[r.prompt] = a } }
        guard !answers.isEmpty else { throw FoundryError("\(job.prompts) has no answers: the simulated person needs them to judge") }
        var options = ServeOptions()
        options.port = 0; options.prompts = job.prompts; options.rankings = job.rankings; options.k = job.k; options.rankSeed = job.seed
        let server = try FoundryServer.prepare(model: job.model, device: job.device, options: options)
        let (ports, portStream) = AsyncStream<Int>.makeStream()
        let app = server.application(logLevel: .critical) { portStream.yield($0) }
        let serving = Task.detached {
            do { try await app.run() } catch { portStream.finish(); throw error }
        }
        defer {
            serving.cancel()
            server.model.engine.drain()
        }
        let result = UncheckedBox<Result<PageRankingSummary, Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let progress = ProgressLines()
        Task.detached {
            var it = ports.makeAsyncIterator()
            guard let port = await it.next() else {
                result.value = .failure(FoundryError("the page's server did not start")); done.signal(); return
            }
            do {
                var s = try await person(port: port, count: job.count, answers: answers) { progress.add($0) }
                // Rankings with fewer than K responses, or a response sampled at a raised temperature.
                let made = try Datasets.readRankings(path: job.rankings)
                s.short = made.filter { $0.responses.count < job.k }.count
                s.raised = made.filter { $0.temperatures != nil }.count
                result.value = .success(s)
            } catch { result.value = .failure(error) }
            done.signal()
        }
        // Progress lines are printed from this thread, as they come.
        while done.wait(timeout: .now() + 1) == .timedOut { progress.take().forEach(say) }
        progress.take().forEach(say)
        return try result.value!.get()
    }

    /// The person: session, then next → judge → submit until `count` rankings (or no prompt is left).
    static func person(port: Int, count: Int, answers: [String: String], say: @escaping (String) -> Void) async throws -> PageRankingSummary {
        let base = "http://127.0.0.1:\(port)"
        func call(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> (Int, [String: Any]) {
            var r = URLRequest(url: URL(string: base + path)!)
            r.httpMethod = method
            r.timeoutInterval = 600
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
            if let body { r.httpBody = try JSONSerialization.data(withJSONObject: body) }
            let (data, response) = try await URLSession.shared.data(for: r)
            let json = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, json)
        }
        func failure(_ what: String, _ status: Int, _ json: [String: Any]) -> FoundryError {
            FoundryError("the page answered \(what) with \(status): \((json["error"] as? [String: Any])?["message"] as? String ?? "\(json)")")
        }
        let (st, session) = try await call("POST", "/foundry/rank/session", [:])
        guard st == 200, let ranker = session["ranker"] as? String else { throw failure("POST /foundry/rank/session", st, session) }
        var summary = PageRankingSummary()
        let started = Date()
        while summary.ranked < count {
            let (status, h) = try await call("GET", "/foundry/rank/next?ranker=\(ranker)")
            guard status == 200 else { throw failure("GET /foundry/rank/next", status, h) }
            guard let index = h["index"] as? Int, let lease = h["lease"] as? String, let prompt = h["prompt"] as? String,
                  let responses = h["responses"] as? [String] else { break }   // every prompt ranked or skipped
            guard let answer = answers[prompt] else { throw FoundryError("the page handed out a prompt with no answer: \(prompt)") }
            let (ranking, ties) = SynthTask.judge(answer: answer, responses: responses)
            var body: [String: Any] = ["ranker": ranker, "index": index, "lease": lease, "ranking": ranking]
            if !ties.isEmpty { body["ties"] = ties }
            let (s2, receipt) = try await call("POST", "/foundry/rank/submit", body)
            guard s2 == 200 else { throw failure("POST /foundry/rank/submit", s2, receipt) }
            summary.ranked += 1
            summary.skipped = ((receipt["progress"] as? [String: Any])?["skipped"] as? Int) ?? summary.skipped
            if summary.ranked % 50 == 0 || summary.ranked == count {
                say(String(format: "page: ranked %d / %d (the page skipped %d prompts with a single distinct response), %.0f s",
                           summary.ranked, count, summary.skipped, Date().timeIntervalSince(started)))
            }
        }
        return summary
    }
}
