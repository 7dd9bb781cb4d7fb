import Foundation
import FoundryCore


/// `foundry serve`'s settings and their defaults (the CLI's flags read them from here).
public struct ServeOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Required for any address but loopback; clients send `Authorization: Bearer KEY`.
    public var apiKey: String?
    /// Sequences decoded together in one pass (each a row of the shared KV cache).
    public var slots = 8
    /// The precision decoding reads the weights in (`DecodeWeights`; f16: half the bytes a step).
    public var decodeWeights = DecodeWeights.f32
    /// Sequences that may wait for a slot; past that, requests get 503.
    public var queue = 32
    /// Largest request body accepted (413 past it).
    public var maxBodyBytes = 1 << 20
    /// The Rank tab: prompts to rank (JSONL with "prompt"), where rankings go, responses per prompt.
    public var prompts: String?
    public var rankings: String?
    public var k = 4
    /// How the Rank tab's responses are sampled.
    public var rankTemperature: Float = 1.0
    public var rankMaxTokens = 64
    /// Seeds the Rank tab's sampling (prompt i's draws come from this seed and i), so a run that
    /// ranks the same prompts in the same order sees the same responses; nil: random.
    public var rankSeed: UInt64?
    /// A reward model whose scores the Rank tab shows after each submission.
    public var rewardModel: String?

    public init() {}

    public static let slotRange = 1...64
    public static let kRange = 2...9

    public func validate() throws {
        guard (0...65535).contains(port) else { throw FoundryError("--port must be between 0 and 65535 (0 = any free port), not \(port)") }
        guard Self.slotRange.contains(slots) else { throw FoundryError("--slots must be between 1 and 64, not \(slots)") }
        guard queue >= 0 else { throw FoundryError("--queue must be 0 or more, not \(queue)") }
        guard maxBodyBytes >= 1024 else { throw FoundryError("--max-body-bytes must be at least 1024") }
        guard Self.kRange.contains(k) else { throw FoundryError("--k must be between 2 and 9 (responses ranked per prompt), not \(k)") }
        guard rankTemperature > 0 && rankTemperature.isFinite else { throw FoundryError("--rank-temperature must be > 0: responses to rank should differ") }
        guard rankMaxTokens >= 1 else { throw FoundryError("--rank-max-tokens must be at least 1") }
        if let apiKey, apiKey.isEmpty { throw FoundryError("--api-key is empty: give a secret clients will send as 'Authorization: Bearer KEY'") }
        if !Self.isLoopback(host) && apiKey == nil {
            throw FoundryError("refusing to listen on \(host) without --api-key: anyone who can reach this machine could use the model; "
                + "pass --api-key KEY (clients send 'Authorization: Bearer KEY'), or keep the default --host 127.0.0.1")
        }
        if (prompts == nil) != (rankings == nil) {
            throw FoundryError("the Rank tab needs both --prompts FILE (what to rank) and --rankings FILE (where rankings are appended)")
        }
        if rewardModel != nil && prompts == nil {
            throw FoundryError("--reward-model scores ranked responses: give --prompts and --rankings too")
        }
    }

    /// 127.0.0.0/8, ::1 and localhost: reachable from this machine only.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}
