import Foundation

/// The JSON bodies OpenAI's API answers with, as Encodable structs (absent optionals are left
/// out, which OpenAI's clients read as null).
enum OpenAI {
    struct Usage: Encodable {
        let prompt_tokens: Int, completion_tokens: Int, total_tokens: Int
        init(prompt: Int, completion: Int) { prompt_tokens = prompt; completion_tokens = completion; total_tokens = prompt + completion }
    }

    struct TopLogprob: Encodable { let token: String; let logprob: Float; let bytes: [UInt8] }
    struct TokenLogprobEntry: Encodable {
        let token: String; let logprob: Float; let bytes: [UInt8]; let top_logprobs: [TopLogprob]
    }
    struct ChatLogprobs: Encodable { let content: [TokenLogprobEntry] }
    struct TextLogprobs: Encodable {
        let tokens: [String]; let token_logprobs: [Float]; let top_logprobs: [[String: Float]]; let text_offset: [Int]
    }

    /// Foundry's addition for the chat page: the token drawn and the distribution it came from.
    struct Chance: Encodable { let id: Int32; let token: String; let p: Float; let p_temperature: Float }
    struct DrawnToken: Encodable { let id: Int32; let token: String; let distribution: [Chance] }

    struct Message: Encodable { let role: String; let content: String }
    struct Delta: Encodable { var role: String?; var content: String? }

    struct ChatChoice: Encodable { let index: Int; let message: Message; let logprobs: ChatLogprobs?; let finish_reason: String }
    struct ChatCompletion: Encodable {
        let id: String; var object = "chat.completion"; let created: Int; let model: String
        let choices: [ChatChoice]; let usage: Usage; var system_fingerprint = "foundry"
        /// With `foundry_fit_context`: how many of the earliest messages were left out to fit.
        var foundry_dropped_messages: Int? = nil
    }
    struct ChatChunkChoice: Encodable {
        let index: Int; let delta: Delta; let logprobs: ChatLogprobs?; let finish_reason: String?; let foundry_tokens: [DrawnToken]?
    }
    struct ChatChunk: Encodable {
        let id: String; var object = "chat.completion.chunk"; let created: Int; let model: String
        let choices: [ChatChunkChoice]; var usage: Usage?; var system_fingerprint = "foundry"
        var foundry_dropped_messages: Int? = nil
    }

    struct TextChoice: Encodable {
        let text: String; let index: Int; let logprobs: TextLogprobs?; let finish_reason: String?; var foundry_tokens: [DrawnToken]?
    }
    struct TextCompletion: Encodable {
        let id: String; var object = "text_completion"; let created: Int; let model: String
        let choices: [TextChoice]; var usage: Usage?; var system_fingerprint = "foundry"
    }

    struct Model: Encodable { let id: String; var object = "model"; let created: Int; var owned_by = "foundry" }
    struct ModelList: Encodable { var object = "list"; let data: [Model] }

    static func encode<T: Encodable>(_ value: T) -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return (try? e.encode(value)) ?? Data("{}".utf8)
    }
}
