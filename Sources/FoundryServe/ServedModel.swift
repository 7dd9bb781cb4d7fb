import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import FoundrySample

/// A model behind the API: its engine, how requests become token prompts, and how the
/// engine's events become OpenAI's responses (whole, or as server-sent events).
public final class ServedModel: @unchecked Sendable {
    public let name: String
    public let engine: Engine
    let template: ChatTemplate?
    let created = Int(Date().timeIntervalSince1970)
    /// Byte-level BPE keeps a cache while encoding: one request encodes at a time.
    private let encodeLock = NSLock()

    public init(name: String, engine: Engine) {
        self.name = name
        self.engine = engine
        template = try? ChatTemplate(tokenizer: engine.tokenizer)
    }

    var tokenizer: Tokenizer { engine.tokenizer }
    var maxSeq: Int { engine.model.config.maxSeq }

    func encode(_ text: String) throws -> [Int32] {
        encodeLock.lock(); defer { encodeLock.unlock() }
        return try tokenizer.encode(text)
    }

    func tokenText(_ id: Int32) -> String { tokenizer.decode([id]) }

    // MARK: Prompts

    /// `messages` rendered in Foundry's chat format, ending with `<|assistant|>`. With `room`,
    /// the earliest turns (a user turn and its reply together) are left out until `room` new
    /// tokens fit in the context; the last message always stays.
    func renderChat(_ messages: JSONValue, room: Int? = nil) throws -> (rendered: [(text: String, tokens: [Int32])], dropped: Int) {
        guard let template else {
            throw APIError(400, "this model's tokenizer has no chat tokens (<|user|>, <|assistant|>): use /v1/completions, "
                + "or finetune it with `foundry sft`, which adds them", param: "messages")
        }
        guard let list = messages.array, !list.isEmpty else {
            throw APIError.invalid("messages", "'messages' must be a non-empty list of {\"role\", \"content\"}")
        }
        var turns: [ChatMessage] = []
        for (i, m) in list.enumerated() {
            let f = Fields(m)
            guard m.object != nil, let role = try? f.string("role") else {
                throw APIError.invalid("messages[\(i)]", "messages[\(i)] must be an object with a string 'role' and 'content'")
            }
            guard ["system", "user", "assistant"].contains(role) else {
                throw APIError.invalid("messages[\(i)].role", "messages[\(i)] has the role '\(role)'; Foundry's chat format has system, user and assistant")
            }
            turns.append(ChatMessage(role: role, content: try content(f["content"], at: i)))
        }
        do {
            var dropped = 0
            while true {
                let tokens = try template.conversation(turns).tokens + [template.assistantToken]
                if let room, tokens.count + room > maxSeq, turns.count > 1 {
                    let n = min(2, turns.count - 1)
                    turns.removeFirst(n); dropped += n
                    continue
                }
                let text = turns.map { ($0.role == "assistant" ? TokenizerSpecials.assistant : TokenizerSpecials.user) + $0.content }.joined()
                return ([(text + TokenizerSpecials.assistant, tokens)], dropped)
            }
        } catch let e as FoundryError {
            throw APIError.invalid("messages", "\(e)")
        }
    }

    /// A message's content: a string, or OpenAI's list of parts of which only text is understood.
    private func content(_ v: JSONValue?, at i: Int) throws -> String {
        switch v {
        case .string(let s)?: return s
        case .array(let parts)?:
            return try parts.map { part -> String in
                guard part["type"]?.string == "text", let t = part["text"]?.string else {
                    throw APIError.invalid("messages[\(i)].content", "messages[\(i)] has a content part that is not text: this model reads text only")
                }
                return t
            }.joined()
        default:
            throw APIError.invalid("messages[\(i)].content", "messages[\(i)].content must be a string or a list of text parts")
        }
    }

    /// A completion prompt: a string, a list of strings, a list of token ids, or a list of such lists.
    func renderText(_ prompt: JSONValue) throws -> [(text: String, tokens: [Int32])] {
        func one(_ v: JSONValue, _ at: String) throws -> (text: String, tokens: [Int32]) {
            if let s = v.string {
                let ids = try encode(s)
                return (s, ids.isEmpty ? [tokenizer.eosToken] : ids)   // an empty prompt starts a new document
            }
            if let a = v.array, !a.isEmpty, a.allSatisfy({ $0.int != nil }) {
                let ids = a.compactMap(\.int)
                guard let bad = ids.first(where: { $0 < 0 || $0 >= engine.model.config.vocabSize }) else {
                    let tokens = ids.map { Int32($0) }
                    return (tokenizer.decode(tokens), tokens)
                }
                throw APIError.invalid(at, "token id \(bad) is outside the vocabulary of \(engine.model.config.vocabSize)")
            }
            throw APIError.invalid(at, "'prompt' must be a string, a list of strings, or a list of token ids")
        }
        if let list = prompt.array, !list.isEmpty, list.allSatisfy({ $0.string != nil || $0.array != nil }) {
            return try list.enumerated().map { try one($1, "prompt[\($0)]") }
        }
        return [try one(prompt, "prompt")]
    }

    // MARK: Requests

    /// A request read and queued: its events arrive on `events` as (choice index, event).
    struct Started {
        let request: CompletionRequest
        let id: String
        let choices: Int
        let events: AsyncStream<(Int, GenerationEvent)>
        let handle: GenerationHandle
    }

    func start(_ kind: CompletionRequest.Kind, body: Data) throws -> Started {
        let json: JSONValue
        do { json = try JSONParser.parse(body) } catch let e as JSONParseError {
            throw APIError(400, "the request body is not valid JSON: \(e.message) at byte \(e.offset)")
        }
        let request = try CompletionRequest(kind: kind, json: json, maxSeq: maxSeq) { v, room in
            kind == .chat ? try renderChat(v, room: room) : (try renderText(v), 0)
        }
        // A chat reply ends at its end-of-turn token or at any other special token (a turn
        // marker the model should not have produced: never shown as text); a raw completion
        // ends at end-of-text.
        let stop = kind == .chat ? template?.turnEnders ?? [tokenizer.eosToken] : [tokenizer.eosToken]
        // OpenAI's defaults: chat replies run until the model stops (here: the context); text completions 16 tokens.
        let jobs = try request.generationRequests(maxSeq: maxSeq, stopTokens: stop, defaultMaxTokens: kind == .chat ? maxSeq : 16)
        let (events, continuation) = AsyncStream<(Int, GenerationEvent)>.makeStream()
        let handle = GenerationHandle()
        do {
            try engine.submit(jobs, handle: handle) { continuation.yield(($0, $1)) }
        } catch let busy as EngineBusy {
            throw APIError(503, "\(busy)", type: "server_error", code: "server_busy")
        } catch {
            throw APIError(503, "\(error)", type: "server_error")
        }
        let id = (kind == .chat ? "chatcmpl-" : "cmpl-") + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        return Started(request: request, id: id, choices: jobs.count, events: events, handle: handle)
    }

    /// Everything a choice produced, gathered for a whole (non-streamed) answer.
    struct Gathered {
        var text = ""
        var tokens: [GeneratedToken] = []
        var finish: FinishReason?
        var promptTokens = 0, completionTokens = 0
        var failure: String?
    }

    /// Waits until each of `count` sequences has finished or failed.
    static func gather(_ events: AsyncStream<(Int, GenerationEvent)>, count: Int) async -> [Gathered] {
        var gathered = [Gathered](repeating: Gathered(), count: count)
        var open = count
        for await (i, e) in events {
            switch e {
            case .token(let t): gathered[i].text += t.text; gathered[i].tokens.append(t)
            case .finished(let r, let text, let p, let c):
                gathered[i].text += text; gathered[i].finish = r; gathered[i].promptTokens = p; gathered[i].completionTokens = c
                open -= 1
            case .failed(let m): gathered[i].failure = m; open -= 1
            }
            if open == 0 { break }
        }
        return gathered
    }

    /// Waits for every choice and returns the whole response body.
    func collect(_ s: Started) async throws -> Data {
        let gathered = await Self.gather(s.events, count: s.choices)
        if let failure = gathered.compactMap(\.failure).first {
            throw APIError(500, "generation failed: \(failure)", type: "server_error")
        }
        let usage = usageOf(s.request, gathered)
        let created = Int(Date().timeIntervalSince1970)
        switch s.request.kind {
        case .chat:
            let choices = gathered.enumerated().map { i, g in
                OpenAI.ChatChoice(index: i, message: .init(role: "assistant", content: g.text),
                                  logprobs: s.request.topLogprobs == nil ? nil : chatLogprobs(g.tokens),
                                  finish_reason: (g.finish ?? .stop).rawValue)
            }
            return OpenAI.encode(OpenAI.ChatCompletion(id: s.id, created: created, model: name, choices: choices, usage: usage,
                                                       foundry_dropped_messages: s.request.droppedMessages > 0 ? s.request.droppedMessages : nil))
        case .text:
            let choices = gathered.enumerated().map { i, g in
                OpenAI.TextChoice(text: g.text, index: i, logprobs: s.request.topLogprobs == nil ? nil : textLogprobs(g.tokens),
                                  finish_reason: (g.finish ?? .stop).rawValue)
            }
            return OpenAI.encode(OpenAI.TextCompletion(id: s.id, created: created, model: name, choices: choices, usage: usage))
        }
    }

    /// Usage counts each prompt once, however many choices it has (as OpenAI does).
    private func usageOf(_ r: CompletionRequest, _ g: [Gathered]) -> OpenAI.Usage {
        let prompt = r.prompts.reduce(0) { $0 + $1.count }
        return OpenAI.Usage(prompt: prompt, completion: g.reduce(0) { $0 + $1.completionTokens })
    }

    /// Streams the answer as server-sent events through `write`; a failed write (the client went
    /// away) cancels the request's sequences, which frees their slots.
    func stream(_ s: Started, write: (Data) async throws -> Void) async throws {
        let created = Int(Date().timeIntervalSince1970)
        func send<T: Encodable>(_ value: T) async throws {
            var d = Data("data: ".utf8); d += OpenAI.encode(value); d += Data("\n\n".utf8)
            try await write(d)
        }
        func chunk(_ i: Int, text: String?, role: String? = nil, tokens: [GeneratedToken] = [], finish: FinishReason? = nil,
                   dropped: Int = 0) async throws {
            let drawn = s.request.distribution > 0 && !tokens.isEmpty ? tokens.map(drawnToken) : nil
            switch s.request.kind {
            case .chat:
                let lp = s.request.topLogprobs != nil && !tokens.isEmpty ? chatLogprobs(tokens) : nil
                try await send(OpenAI.ChatChunk(id: s.id, created: created, model: name, choices: [
                    .init(index: i, delta: .init(role: role, content: text), logprobs: lp, finish_reason: finish?.rawValue, foundry_tokens: drawn)],
                    foundry_dropped_messages: dropped > 0 ? dropped : nil))
            case .text:
                let lp = s.request.topLogprobs != nil && !tokens.isEmpty ? textLogprobs(tokens) : nil
                try await send(OpenAI.TextCompletion(id: s.id, created: created, model: name, choices: [
                    .init(text: text ?? "", index: i, logprobs: lp, finish_reason: finish?.rawValue, foundry_tokens: drawn)]))
            }
        }
        var gathered = [Gathered](repeating: Gathered(), count: s.choices)
        var open = s.choices
        do {
            if s.request.kind == .chat {
                for i in 0..<s.choices { try await chunk(i, text: "", role: "assistant", dropped: s.request.droppedMessages) }
            }
            for await (i, e) in s.events {
                switch e {
                case .token(let t):
                    if !t.text.isEmpty || s.request.topLogprobs != nil || s.request.distribution > 0 {
                        try await chunk(i, text: t.text, tokens: [t])
                    }
                case .finished(let r, let text, let p, let c):
                    gathered[i].promptTokens = p; gathered[i].completionTokens = c
                    open -= 1
                    if r != .cancelled { try await chunk(i, text: text.isEmpty && s.request.kind == .chat ? nil : text, finish: r) }
                case .failed(let m):
                    open -= 1
                    try await send(APIError(500, "generation failed: \(m)", type: "server_error").body)
                }
                if open == 0 { break }
            }
            if s.request.includeUsage {
                let usage = usageOf(s.request, gathered)
                switch s.request.kind {
                case .chat: try await send(OpenAI.ChatChunk(id: s.id, created: created, model: name, choices: [], usage: usage))
                case .text: try await send(OpenAI.TextCompletion(id: s.id, created: created, model: name, choices: [], usage: usage))
                }
            }
            try await write(Data("data: [DONE]\n\n".utf8))
        } catch {
            s.handle.cancel()
            throw error
        }
    }

    /// `n` replies to `prompt` in the chat format, sampled at `temperature` (the Rank tab's responses).
    func sampleReplies(to prompt: String, n: Int, temperature: Float, maxTokens: Int, seed: UInt64? = nil) async throws -> [String] {
        guard let template else { throw APIError(400, "this model has no chat tokens, so it cannot answer prompts to rank") }
        let tokens = try encodeLock.withLock { try template.prompt(prompt) }
        guard tokens.count < maxSeq else {
            throw APIError(400, "this prompt is \(tokens.count) tokens, longer than the model's context of \(maxSeq)")
        }
        var settings = SamplingSettings()
        settings.filter = SamplingFilter(temperature: temperature)
        settings.stopTokens = template.turnEnders
        settings.maxTokens = min(maxTokens, maxSeq - tokens.count)
        let base = seed ?? UInt64.random(in: 0...UInt64.max)
        let requests = (0..<n).map { i -> GenerationRequest in
            var s = settings
            s.seed = base &+ UInt64(i)
            return GenerationRequest(prompt: tokens, settings: s)
        }
        let (events, continuation) = AsyncStream<(Int, GenerationEvent)>.makeStream()
        do {
            try engine.submit(requests, handle: GenerationHandle()) { continuation.yield(($0, $1)) }
        } catch {
            throw APIError(503, "\(error)", type: "server_error", code: "server_busy")
        }
        let gathered = await Self.gather(events, count: n)
        if let failure = gathered.compactMap(\.failure).first { throw APIError(500, "generation failed: \(failure)", type: "server_error") }
        return gathered.map(\.text)
    }

    /// Whether `response` to `prompt` renders as a chat training row (its text holds no chat
    /// token): the Rank tab shows only responses `foundry reward` will accept.
    func canTrain(prompt: String, response: String) -> Bool {
        guard let template else { return false }
        return encodeLock.withLock { (try? template.example(prompt: prompt, completion: response)) != nil }
    }

    // MARK: Log-probabilities

    private func entry(_ id: Int32, _ lp: Float) -> OpenAI.TopLogprob {
        let t = tokenText(id)
        return OpenAI.TopLogprob(token: t, logprob: lp, bytes: Array(t.utf8))
    }

    func chatLogprobs(_ tokens: [GeneratedToken]) -> OpenAI.ChatLogprobs {
        OpenAI.ChatLogprobs(content: tokens.compactMap { t in
            guard let lp = t.logprob else { return nil }
            let e = entry(t.id, lp)
            return OpenAI.TokenLogprobEntry(token: e.token, logprob: lp, bytes: e.bytes, top_logprobs: t.top.map { entry($0.id, $0.logprob) })
        })
    }

    func textLogprobs(_ tokens: [GeneratedToken]) -> OpenAI.TextLogprobs {
        var offset = 0, offsets: [Int] = []
        let texts = tokens.map { tokenText($0.id) }
        for t in texts { offsets.append(offset); offset += t.count }
        return OpenAI.TextLogprobs(tokens: texts, token_logprobs: tokens.map { $0.logprob ?? 0 },
                                   top_logprobs: tokens.map { t in
                                       Dictionary(t.top.map { (tokenText($0.id), $0.logprob) }, uniquingKeysWith: { a, _ in a })
                                   }, text_offset: offsets)
    }

    func drawnToken(_ t: GeneratedToken) -> OpenAI.DrawnToken {
        OpenAI.DrawnToken(id: t.id, token: tokenText(t.id), distribution: t.distribution.map {
            OpenAI.Chance(id: $0.id, token: tokenText($0.id), p: $0.probability, p_temperature: $0.probabilityAfterTemperature)
        })
    }
}
