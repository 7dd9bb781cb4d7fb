import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import FoundrySample

/// A conversation with a model in Foundry's chat format — the one SFT trained it on:
/// `<|user|>…<|assistant|>…<|endoftext|>` per turn. Each reply is generated after the whole
/// history; when the history no longer fits the context beside `maxTokens` new ones (or a
/// quarter of the context, if that is less), its earliest turns are dropped (and `reply` says
/// how many).
public final class ChatSession {
    public let model: GPT2
    public let template: ChatTemplate
    public private(set) var history: [ChatMessage] = []
    let generator: Generator

    public init(model: GPT2, tokenizer: Tokenizer) throws {
        self.model = model
        template = try ChatTemplate(tokenizer: tokenizer)
        generator = try Generator(model: model)
    }

    public func reset() { history = [] }

    /// The tokens a reply to `user` is generated after, and how many earliest messages had to go.
    public func prompt(for user: String, room: Int) throws -> (tokens: [Int32], dropped: Int) {
        var messages = history + [ChatMessage(role: "user", content: user)]
        var dropped = 0
        while true {
            let tokens = try template.conversation(messages).tokens + [template.assistantToken]
            if tokens.count + room <= model.config.maxSeq { return (tokens, dropped) }
            guard messages.count > 1 else {
                throw FoundryError("the message is \(tokens.count) tokens, and the model's context of \(model.config.maxSeq) leaves no room "
                    + "for \(room) new ones: write a shorter message, or pass a smaller --max-tokens")
            }
            let n = min(2, messages.count - 1)   // a user turn and its reply go together
            messages.removeFirst(n)
            dropped += n
        }
    }

    /// Generates the reply to `user` with `settings` (its stop token is set here), streaming the
    /// text as it grows to `onText` (return false to stop), and adds both turns to the history.
    /// Returns the reply and the number of earliest messages dropped to fit the context.
    @discardableResult
    public func reply(to user: String, settings: SamplingSettings, onText: (String) -> Bool = { _ in true }) throws -> (text: String, dropped: Int) {
        var s = settings
        s.stopTokens = template.turnEnders
        // Keep room for the whole reply only while it is a small share of the context: a default
        // of 200 new tokens must not make a 48-token model refuse every message. The reply may
        // still run on into whatever room the history leaves.
        let (tokens, dropped) = try prompt(for: user, room: max(1, min(s.maxTokens, model.config.maxSeq / 4)))
        s.maxTokens = min(s.maxTokens, model.config.maxSeq - tokens.count)
        if dropped > 0 { history.removeFirst(min(dropped, history.count)) }
        var produced: [Int32] = [], shown = ""
        try generator.generate(prompt: tokens, settings: s) { id in
            if template.turnEnders.contains(id) { return false }
            produced.append(id)
            // A BPE token may end inside a UTF-8 sequence: show only whole characters.
            let text = template.tokenizer.decode(produced)
            if !text.hasSuffix("\u{FFFD}") {
                let more = onText(String(text.dropFirst(shown.count)))
                shown = text
                return more
            }
            return true
        }
        let text = template.tokenizer.decode(produced)
        history += [ChatMessage(role: "user", content: user), ChatMessage(role: "assistant", content: text)]
        return (text, dropped)
    }
}
