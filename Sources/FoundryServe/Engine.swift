import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import FoundrySample

/// Generates for many requests at once on one device. Up to `slots` sequences share one KV
/// cache, each in its own row at its own position; every step feeds each of them one token
/// (or a new one's whole prompt) through a single pass whose weight products cover all rows
/// together, so each weight is read once per step whatever the number of streams. Past the
/// slots, up to `queueLimit` sequences wait; past that, `submit` refuses (`EngineBusy`).
///
/// The device is used from the engine's own thread only: other device work (a reward model's
/// scores) goes through `perform`, between steps.
public final class Engine: @unchecked Sendable {
    public let model: GPT2
    public let tokenizer: Tokenizer
    public let slots: Int
    public let queueLimit: Int
    let cache: KVCache
    private let cond = NSCondition()
    private var waiting: [ActiveSequence] = []
    private var running: [ActiveSequence?]
    private var chores: [() -> Void] = []
    private var stopping = false
    private var finished = false
    private lazy var chooser = TokenChooser(model: model)
    /// Steps run and tokens fed, for the log and the tests.
    public private(set) var steps = 0

    public init(model: GPT2, tokenizer: Tokenizer, slots: Int, queueLimit: Int, weights: DecodeWeights = .f32) throws {
        guard model.config.objective == .causal else {
            throw FoundryError("this is a masked (bidirectional) model: it cannot generate text left to right")
        }
        self.model = model; self.tokenizer = tokenizer
        self.slots = max(1, slots); self.queueLimit = max(0, queueLimit)
        cache = try model.makeCache(batch: self.slots)
        cache.weights = weights
        running = Array(repeating: nil, count: self.slots)
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "foundry-engine"
        thread.start()
    }

    /// Sequences generating and waiting now.
    public var load: (running: Int, waiting: Int) {
        cond.lock(); defer { cond.unlock() }
        return (running.compactMap { $0 }.count, waiting.count)
    }

    /// Queues `requests` (all or none); `sink(i, event)` receives request i's events on the
    /// engine's thread, in order, ending with `.finished` or `.failed`. Cancel through `handle`.
    public func submit(_ requests: [GenerationRequest], handle: GenerationHandle,
                       sink: @escaping @Sendable (Int, GenerationEvent) -> Void) throws {
        cond.lock(); defer { cond.unlock() }
        let busy = running.compactMap { $0 }.count
        if stopping { throw FoundryError("the server is shutting down") }
        guard busy + waiting.count + requests.count <= slots + queueLimit else {
            throw EngineBusy(running: busy, waiting: waiting.count)
        }
        for (i, r) in requests.enumerated() {
            waiting.append(ActiveSequence(request: r, tokenizer: tokenizer, handle: handle) { sink(i, $0) })
        }
        cond.signal()
    }

    /// Runs `work` on the engine's thread between two steps (the device is not shared across threads).
    public func perform<T: Sendable>(_ work: @escaping () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            cond.lock()
            chores.append { c.resume(with: Result { try work() }) }
            cond.signal()
            cond.unlock()
        }
    }

    /// Lets every submitted sequence finish, then ends the engine's thread; new submissions are refused.
    public func drain() {
        cond.lock()
        stopping = true
        cond.broadcast()
        while !finished { cond.wait() }
        cond.unlock()
    }

    private func loop() {
        while true {
            cond.lock()
            while chores.isEmpty && waiting.isEmpty && running.allSatisfy({ $0 == nil }) {
                if stopping { finished = true; cond.broadcast(); cond.unlock(); return }
                cond.wait()
            }
            let todo = chores
            chores = []
            for slot in running.indices where running[slot] == nil && !waiting.isEmpty {
                let s = waiting.removeFirst()
                s.slot = slot
                running[slot] = s
            }
            let active = running.compactMap { $0 }
            cond.unlock()
            for chore in todo { chore() }
            if !active.isEmpty { step(active) }
        }
    }

    private func release(_ s: ActiveSequence) {
        cond.lock(); running[s.slot] = nil; cond.unlock()
    }

    private func step(_ active: [ActiveSequence]) {
        var live: [ActiveSequence] = []
        for s in active {
            if s.handle.isCancelled { s.finish(.cancelled); release(s) } else { live.append(s) }
        }
        guard !live.isEmpty else { return }
        do {
            let segments = live.map { s in (slot: s.slot, start: s.position, tokens: s.fed ? [s.last] : s.request.prompt) }
            let logits = try model.decode(segments: segments, cache: cache)
            for (s, seg) in zip(live, segments) { s.position += seg.tokens.count; s.fed = true }
            steps += 1
            let picked = try pick(live, logits)
            for (s, token) in zip(live, picked) where s.advance(token, maxSeq: model.config.maxSeq) { release(s) }
        } catch {
            let message = (error as? FoundryError).map { "\($0)" } ?? "\(error)"
            for s in live { s.sink(.failed(message)); release(s) }
        }
    }

    /// The next token of each sequence (row i of `logits`), with what each asked to be told.
    private func pick(_ live: [ActiveSequence], _ logits: TensorRef) throws -> [GeneratedToken] {
        let d = model.device, V = model.config.vocabSize
        var rows: [[Float]?] = Array(repeating: nil, count: live.count)
        for (i, s) in live.enumerated() where s.request.topLogprobs != nil || s.request.distribution > 0 {
            rows[i] = try d.read(logits.slice(i * V, V))   // the raw logits, before any penalty
        }
        var sequences = live.map(\.decoding)
        let ids = try chooser.choose(logits, &sequences)
        for (s, drawn) in zip(live, sequences) { s.decoding = drawn }   // their generators moved on
        return live.indices.map { i in
            var g = GeneratedToken(id: ids[i], text: "")
            if let row = rows[i] {
                let r = live[i].request
                let report = LogitReport(row)
                if let k = r.topLogprobs {
                    g.logprob = report.logprob(ids[i])
                    g.top = report.top(k).map { TokenLogprob(id: $0, logprob: report.logprob($0)) }
                }
                if r.distribution > 0 {
                    g.distribution = report.chances(r.distribution, temperature: live[i].decoding.isGreedy ? 0 : r.settings.filter.temperature)
                }
            }
            return g
        }
    }
}

/// One request's sequence while the engine holds it.
final class ActiveSequence {
    let request: GenerationRequest
    let handle: GenerationHandle
    let sink: (GenerationEvent) -> Void
    /// Its settings, generator and tokens so far, as every decoder holds them.
    var decoding: DecodingSequence
    var generated: [Int32] { decoding.generated }
    var text: TextStream
    var slot = -1
    /// Positions in the cache; whether the prompt has been fed; the token to feed next.
    var position = 0, fed = false, last: Int32 = 0

    init(request: GenerationRequest, tokenizer: Tokenizer, handle: GenerationHandle, sink: @escaping (GenerationEvent) -> Void) {
        self.request = request; self.handle = handle; self.sink = sink
        decoding = DecodingSequence(prompt: request.prompt, settings: request.settings)
        text = TextStream(tokenizer: tokenizer, stops: request.stopTexts)
    }

    func finish(_ reason: FinishReason, text released: String = "") {
        sink(.finished(reason, text: released, promptTokens: request.prompt.count, completionTokens: generated.count))
    }

    /// Takes the picked token; returns true when the sequence is done.
    func advance(_ token: GeneratedToken, maxSeq: Int) -> Bool {
        let lastAllowed = decoding.accept(token.id)
        last = token.id
        if request.settings.stopTokens.contains(token.id) {
            finish(.stop, text: text.flush())
            return true
        }
        var event = token
        let (piece, stopped) = text.push(token.id)
        event.text = piece
        sink(.token(event))
        if stopped { finish(.stop); return true }
        if lastAllowed || position >= maxSeq {
            finish(.length, text: text.flush())
            return true
        }
        return false
    }
}

/// Log-probabilities and the most likely tokens of one row of logits, on the host.
struct LogitReport {
    let logits: [Float]
    let logSum: Float

    init(_ logits: [Float]) {
        self.logits = logits
        let m = logits.max() ?? 0
        var s: Double = 0
        for l in logits { s += Double(expf(l - m)) }
        logSum = m + Float(log(s))
    }

    func logprob(_ id: Int32) -> Float { logits[Int(id)] - logSum }

    /// The k most likely ids, most likely first (ties: the lower id).
    func top(_ k: Int) -> [Int32] {
        guard k > 0 else { return [] }
        var best: [(Float, Int)] = []
        for (i, l) in logits.enumerated() where best.count < k || l > best[best.count - 1].0 {
            let at = best.firstIndex { l > $0.0 } ?? best.count
            best.insert((l, i), at: at)
            if best.count > k { best.removeLast() }
        }
        return best.map { Int32($0.1) }
    }

    /// The k most likely tokens with their probability before and after dividing the logits by
    /// `temperature` (0: all of it on the most likely token).
    func chances(_ k: Int, temperature: Float) -> [TokenChance] {
        let ids = top(k)
        guard temperature > 0 else {
            return ids.enumerated().map { TokenChance(id: $1, probability: expf(logprob($1)), probabilityAfterTemperature: $0 == 0 ? 1 : 0) }
        }
        let m = (logits.max() ?? 0) / temperature
        var s: Double = 0
        for l in logits { s += Double(expf(l / temperature - m)) }
        let logSumT = m + Float(log(s))
        return ids.map { TokenChance(id: $0, probability: expf(logprob($0)), probabilityAfterTemperature: expf(logits[Int($0)] / temperature - logSumT)) }
    }
}
