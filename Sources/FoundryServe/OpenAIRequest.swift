import Foundation
import FoundryCore
import FoundryData
import FoundrySample

/// A completion request, read from OpenAI's JSON with a 400 naming the field for every value
/// that is missing, of the wrong type or out of range. Fields OpenAI has and Foundry does not
/// support (penalties other than 0, logit_bias) are refused rather than silently ignored.
struct CompletionRequest {
    enum Kind { case chat, text }
    let kind: Kind
    /// The rendered prompts (one for chat; one or more for text completions).
    var prompts: [[Int32]] = []
    var promptTexts: [String] = []
    var n = 1
    var stream = false
    var includeUsage = false
    var maxTokens: Int?
    var settings = SamplingSettings()
    var stops: [String] = []
    var topLogprobs: Int?
    var distribution = 0
    var model: String?
    /// Foundry's `foundry_fit_context` (chat): the earliest turns that were left out so the
    /// conversation fits the context with room to reply (what `foundry chat` does).
    var droppedMessages = 0

    /// Most choices a request may ask for.
    static let maxChoices = 16
    /// Most alternatives per token OpenAI returns.
    static let maxTopLogprobs = 20

    /// `render(prompt, room)` turns `messages` or `prompt` into tokens; with a `room`, a chat
    /// render drops its earliest turns until that many new tokens fit, returning how many it dropped.
    init(kind: Kind, json: JSONValue, maxSeq: Int,
         render: (JSONValue, Int?) throws -> (rendered: [(text: String, tokens: [Int32])], dropped: Int)) throws {
        self.kind = kind
        guard json.object != nil else { throw APIError(400, "the request body must be a JSON object") }
        let f = Fields(json)
        model = try f.string("model")
        n = try f.int("n", in: 1...Self.maxChoices) ?? 1
        stream = try f.bool("stream") ?? false
        if let so = f["stream_options"] {
            guard so.object != nil else {
                throw APIError.invalid("stream_options", "'stream_options' must be an object such as {\"include_usage\": true}")
            }
            includeUsage = try Fields(so).bool("include_usage") ?? false
        }
        maxTokens = try f.int("max_completion_tokens", in: 1...Int(Int32.max)) ?? f.int("max_tokens", in: 1...Int(Int32.max))
        settings.filter.temperature = Float(try f.number("temperature", in: 0...2) ?? 1)
        settings.filter.topP = Float(try f.number("top_p", in: 0...1, openLow: true) ?? 1)
        settings.filter.topK = try f.int("top_k", in: 0...Int(Int32.max)) ?? 0
        settings.filter.minP = Float(try f.number("min_p", in: 0...1, openHigh: true) ?? 0)
        settings.repetitionPenalty = Float(try f.number("repetition_penalty", in: 0...100, openLow: true) ?? 1)
        settings.greedy = settings.filter.temperature == 0
        if let seed = try f.int("seed", in: Int(Int64.min)...Int(Int64.max)) {
            settings.seed = UInt64(bitPattern: Int64(seed))
        } else {
            settings.seed = UInt64.random(in: 0...UInt64.max)
        }
        for p in ["frequency_penalty", "presence_penalty"] {
            if let v = try f.number(p, in: -2...2), v != 0 {
                throw APIError.invalid(p, "'\(p)' is not supported; use 'repetition_penalty' (transformers' rule, 1 = off)")
            }
        }
        if let lb = f["logit_bias"], !(lb.object?.isEmpty ?? false) {
            throw APIError.invalid("logit_bias", "'logit_bias' is not supported")
        }
        switch f["stop"] {
        case nil: break
        case .string(let s)?: stops = [s]
        case .array(let a)?:
            guard a.count <= 4, a.allSatisfy({ $0.string != nil }) else {
                throw APIError.invalid("stop", "'stop' must be a string or a list of at most 4 strings")
            }
            stops = a.compactMap(\.string)
        default: throw APIError.invalid("stop", "'stop' must be a string or a list of at most 4 strings")
        }
        switch kind {
        case .chat:
            if try f.bool("logprobs") == true {
                topLogprobs = try f.int("top_logprobs", in: 0...Self.maxTopLogprobs) ?? 0
            } else if f["top_logprobs"] != nil {
                throw APIError.invalid("top_logprobs", "'top_logprobs' needs 'logprobs': true")
            }
            guard let messages = f["messages"] else { throw APIError(400, "'messages' is required: a list of {\"role\", \"content\"}", param: "messages") }
            // The same room `foundry chat` keeps: the reply, up to a quarter of the context.
            let room = try f.bool("foundry_fit_context") == true ? max(1, min(maxTokens ?? maxSeq, maxSeq / 4)) : nil
            let (rendered, dropped) = try render(messages, room)
            prompts = rendered.map(\.tokens); promptTexts = rendered.map(\.text); droppedMessages = dropped
        case .text:
            topLogprobs = try f.int("logprobs", in: 0...Self.maxTopLogprobs)
            if try f.bool("echo") == true { throw APIError.invalid("echo", "'echo' is not supported") }
            guard let prompt = f["prompt"] else { throw APIError(400, "'prompt' is required: a string or a list of strings", param: "prompt") }
            let rendered = try render(prompt, nil).rendered
            prompts = rendered.map(\.tokens); promptTexts = rendered.map(\.text)
        }
        distribution = try f.int("foundry_distribution", in: 0...Self.maxTopLogprobs) ?? 0
    }

    /// One engine request per prompt and choice, `max_tokens` capped by the model's context.
    func generationRequests(maxSeq: Int, stopTokens: Set<Int32>, defaultMaxTokens: Int) throws -> [GenerationRequest] {
        var out: [GenerationRequest] = []
        for (p, prompt) in prompts.enumerated() {
            guard prompt.count < maxSeq else {
                throw APIError(400, "the prompt\(prompts.count > 1 ? " \(p)" : "") is \(prompt.count) tokens and the model's context is \(maxSeq): "
                    + "shorten it to leave room for at least one new token", param: kind == .chat ? "messages" : "prompt",
                    code: "context_length_exceeded")
            }
            for choice in 0..<n {
                var s = settings
                s.maxTokens = min(maxTokens ?? defaultMaxTokens, maxSeq - prompt.count)
                s.stopTokens = stopTokens
                s.seed = settings.seed &+ UInt64(p * n + choice)   // each choice its own draws, reproducible from `seed`
                var r = GenerationRequest(prompt: prompt, settings: s)
                r.stopTexts = stops
                r.topLogprobs = topLogprobs
                r.distribution = distribution
                out.append(r)
            }
        }
        return out
    }
}

/// Typed reads of a JSON object's fields; `null` counts as absent.
struct Fields {
    let json: JSONValue
    init(_ json: JSONValue) { self.json = json }

    subscript(key: String) -> JSONValue? {
        guard let v = json[key], !v.isNull else { return nil }
        return v
    }

    func string(_ key: String) throws -> String? {
        guard let v = self[key] else { return nil }
        guard let s = v.string else { throw APIError.invalid(key, "'\(key)' must be a string") }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = self[key] else { return nil }
        guard let b = v.bool else { throw APIError.invalid(key, "'\(key)' must be true or false") }
        return b
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let v = self[key] else { return nil }
        guard let i = v.int else { throw APIError.invalid(key, "'\(key)' must be an integer") }
        guard range.contains(i) else { throw APIError.invalid(key, "'\(key)' must be between \(range.lowerBound) and \(range.upperBound), not \(i)") }
        return i
    }

    func number(_ key: String, in range: ClosedRange<Double>, openLow: Bool = false, openHigh: Bool = false) throws -> Double? {
        guard let v = self[key] else { return nil }
        guard case .number(let d) = v, d.isFinite else { throw APIError.invalid(key, "'\(key)' must be a number") }
        let low = openLow ? d > range.lowerBound : d >= range.lowerBound
        let high = openHigh ? d < range.upperBound : d <= range.upperBound
        guard low && high else {
            let l = openLow ? "(" : "[", h = openHigh ? ")" : "]"
            throw APIError.invalid(key, "'\(key)' must be in \(l)\(fmt(range.lowerBound)), \(fmt(range.upperBound))\(h), not \(fmt(d))")
        }
        return d
    }

    private func fmt(_ d: Double) -> String { d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d) }
}
