import Foundation
import FoundryCore
import FoundrySample

/// One sequence the engine generates: a prompt in tokens and how to continue it.
public struct GenerationRequest: Sendable {
    public var prompt: [Int32]
    /// maxTokens, the filter, repetition penalty, seed, greedy and the stop token.
    public var settings: SamplingSettings
    /// Texts that end the generation before them (OpenAI's `stop`).
    public var stopTexts: [String] = []
    /// Report the chosen token's log-probability and this many alternatives (nil: none).
    public var topLogprobs: Int?
    /// Report the `distribution` most likely tokens with their probabilities before and after
    /// the temperature (the chat page's view of what the sampler drew from); 0 = off.
    public var distribution = 0

    public init(prompt: [Int32], settings: SamplingSettings) {
        self.prompt = prompt; self.settings = settings
    }
}

/// A token id with its log-probability under the model (log-softmax of the raw logits).
public struct TokenLogprob: Sendable {
    public var id: Int32
    public var logprob: Float
}

/// One of the most likely next tokens: probability from the raw logits and after the temperature.
public struct TokenChance: Sendable {
    public var id: Int32
    public var probability: Float
    public var probabilityAfterTemperature: Float
}

/// A generated token and what it adds to the visible text.
public struct GeneratedToken: Sendable {
    public var id: Int32
    /// The text this token releases ("" while it may still become part of a stop string or of
    /// a character that later tokens complete).
    public var text: String
    public var logprob: Float?
    public var top: [TokenLogprob] = []
    public var distribution: [TokenChance] = []
}

public enum FinishReason: String, Sendable {
    /// The model ended its turn, or a stop string appeared.
    case stop
    /// `max_tokens`, or the model's context, ran out.
    case length
    /// The client went away.
    case cancelled
}

public enum GenerationEvent: Sendable {
    case token(GeneratedToken)
    /// `text` is whatever was held back and is now released (possibly "").
    case finished(FinishReason, text: String, promptTokens: Int, completionTokens: Int)
    case failed(String)
}

/// The caller's side of submitted sequences: cancel them (a client disconnected) and the
/// engine frees their slots at its next step.
public final class GenerationHandle: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelledFlag = false
    public init() {}
    public func cancel() { lock.lock(); cancelledFlag = true; lock.unlock() }
    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelledFlag }
}

/// The engine is full: `running` sequences hold every slot and `waiting` fill the queue.
public struct EngineBusy: Error, CustomStringConvertible {
    public let running: Int, waiting: Int
    public var description: String {
        "the server is busy: \(running) sequences are generating and \(waiting) are waiting; retry in a moment"
    }
}
