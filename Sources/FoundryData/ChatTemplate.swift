import Foundation
import FoundryCore

/// Foundry's chat format, in tokens:
///
///     <|user|>What is 2+3?<|assistant|>5<|endoftext|>
///
/// A user (or system) turn is `<|user|>` + text; an assistant turn is `<|assistant|>` + text +
/// `<|endoftext|>`. Generation from `prompt(_:)` stops at `<|endoftext|>`. Text inside a turn must
/// not itself contain `<|user|>`, `<|assistant|>` or `<|endoftext|>` (it would read as a turn
/// boundary), so rendering such text throws.
public struct ChatTemplate {
    public let tokenizer: Tokenizer
    public let userToken: Int32
    public let assistantToken: Int32
    public let endToken: Int32

    public init(tokenizer: Tokenizer) throws {
        guard let u = tokenizer.id(ofSpecial: TokenizerSpecials.user),
              let a = tokenizer.id(ofSpecial: TokenizerSpecials.assistant),
              let e = tokenizer.id(ofSpecial: TokenizerSpecials.eos) else {
            throw FoundryError("this tokenizer has no chat tokens: retrain it with `foundry tokenizer train` or `foundry pretrain`")
        }
        self.tokenizer = tokenizer
        userToken = u; assistantToken = a; endToken = e
        turnEnders = Set(TokenizerSpecials.foundry.compactMap { tokenizer.id(ofSpecial: $0) } + [e])
    }

    /// Where a generated reply ends: its end-of-turn token, or any other special token
    /// (`<|user|>`, `<|assistant|>`, `[MASK]`): a reply that produces a turn marker has ended
    /// its turn, as a chat template's generation would, and the marker is never shown as text.
    public let turnEnders: Set<Int32>

    /// The prompt as text: `<|user|>p<|assistant|>` (what `prompt(_:)` encodes).
    public static func promptText(_ p: String) -> String { TokenizerSpecials.user + p + TokenizerSpecials.assistant }

    /// `<|user|>` p `<|assistant|>`: what a model continues to answer `p`.
    public func prompt(_ p: String) throws -> [Int32] {
        [userToken] + (try content(p, "prompt")) + [assistantToken]
    }

    /// The prompt's tokens, then the completion's and `<|endoftext|>`; `completionStart` is the index
    /// of the first completion token (the loss covers `tokens[completionStart...]`).
    public func example(prompt p: String, completion: String) throws -> (tokens: [Int32], completionStart: Int) {
        let head = try prompt(p)
        return (head + (try content(completion, "completion")) + [endToken], head.count)
    }

    /// Renders turns in order. `lossMask[i]` says whether token i is a training target: true on
    /// each assistant turn's text and its closing `<|endoftext|>`, false on `<|user|>`,
    /// `<|assistant|>` and user/system text.
    public func conversation(_ messages: [(role: String, content: String)]) throws -> (tokens: [Int32], lossMask: [Bool]) {
        var tokens: [Int32] = []
        var mask: [Bool] = []
        for (i, m) in messages.enumerated() {
            switch m.role {
            case "user", "system":
                let t = try content(m.content, "message \(i) (\(m.role))")
                tokens.append(userToken); tokens += t
                mask += [Bool](repeating: false, count: t.count + 1)
            case "assistant":
                let t = try content(m.content, "message \(i) (assistant)")
                tokens.append(assistantToken); tokens += t; tokens.append(endToken)
                mask.append(false); mask += [Bool](repeating: true, count: t.count + 1)
            default:
                throw FoundryError("message \(i) has the unknown chat role '\(m.role)' (use user, assistant or system)")
            }
        }
        return (tokens, mask)
    }

    public func conversation(_ messages: [ChatMessage]) throws -> (tokens: [Int32], lossMask: [Bool]) {
        try conversation(messages.map { (role: $0.role, content: $0.content) })
    }

    /// An SFT row as tokens and loss mask (a prompt-completion row is one user and one assistant turn,
    /// so its tokens equal `example(prompt:completion:)`'s and the mask is true from `completionStart`).
    public func render(_ example: SFTExample) throws -> (tokens: [Int32], lossMask: [Bool]) {
        try conversation(example.messages)
    }

    private func content(_ text: String, _ what: String) throws -> [Int32] {
        let ids = try tokenizer.encode(text)
        for id in ids where id == userToken || id == assistantToken || id == endToken {
            let name = id == userToken ? TokenizerSpecials.user : id == assistantToken ? TokenizerSpecials.assistant : TokenizerSpecials.eos
            throw FoundryError("the \(what) text contains the special token \(name), which would read as a chat turn "
                + "boundary (remove it from the data)")
        }
        return ids
    }
}
