import Foundation
import FoundryCore
import FoundryFiles

// MARK: - Rows

/// One chat turn. Roles are "user", "assistant" or "system" (rendered like a user turn).
public struct ChatMessage: Equatable, Sendable {
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

/// A supervised fine-tuning row, in either of Hugging Face TRL's SFT layouts:
/// prompt-completion (`{"prompt": "...", "completion": "..."}`) or conversational
/// (`{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}`).
public enum SFTExample: Equatable, Sendable {
    case completion(prompt: String, completion: String)
    case conversation([ChatMessage])

    public init(prompt: String, completion: String) { self = .completion(prompt: prompt, completion: completion) }
    public init(messages: [ChatMessage]) { self = .conversation(messages) }

    /// Every example as turns: a prompt-completion row is one user turn and one assistant turn.
    public var messages: [ChatMessage] {
        switch self {
        case .completion(let p, let c): return [ChatMessage(role: "user", content: p), ChatMessage(role: "assistant", content: c)]
        case .conversation(let m): return m
        }
    }
    /// The prompt of a prompt-completion row; nil for a conversation.
    public var prompt: String? { if case .completion(let p, _) = self { return p }; return nil }
    /// The completion of a prompt-completion row; nil for a conversation.
    public var completion: String? { if case .completion(_, let c) = self { return c }; return nil }
}

/// A preference pair (TRL's DPO / reward-model layout). `margin` is an optional per-pair
/// reward margin (as in TRL's RewardTrainer).
public struct PreferenceExample: Equatable, Sendable {
    public var prompt: String
    public var chosen: String
    public var rejected: String
    public var margin: Double?
    public init(prompt: String, chosen: String, rejected: String, margin: Double? = nil) {
        self.prompt = prompt; self.chosen = chosen; self.rejected = rejected; self.margin = margin
    }
}

/// One completion with a scalar score (a `"label": true/false` row, TRL's KTO layout, reads as 1 / 0).
public struct PointwiseExample: Equatable, Sendable {
    public var prompt: String
    public var completion: String
    public var score: Double
    public init(prompt: String, completion: String, score: Double) {
        self.prompt = prompt; self.completion = completion; self.score = score
    }
}

/// A person's ranking of K responses to one prompt (InstructGPT's comparison data):
/// `ranking` lists indices into `responses`, best first. `ties` holds groups of responses the
/// person judged equally good (each group's members sit next to each other in `ranking`);
/// responses with the same text are tied too, since no judgement can tell them apart. Tied
/// pairs teach nothing about which is better: the loss, `pairs` and accuracy leave them out.
public struct RankingExample: Equatable, Sendable {
    public var prompt: String
    public var responses: [String]
    public var ranking: [Int]
    public var ties: [[Int]]
    /// The temperature each response was sampled at, when the server raised it to get
    /// distinct responses (nil: not recorded).
    public var temperatures: [Double]?
    public init(prompt: String, responses: [String], ranking: [Int], ties: [[Int]] = [], temperatures: [Double]? = nil) {
        self.prompt = prompt; self.responses = responses; self.ranking = ranking; self.ties = ties
        self.temperatures = temperatures
    }

    /// Each ranking position's level: positions with the same level are tied (0 = best).
    public var levels: [Int] { RankingExample.levels(ranking: ranking, ties: ties, same: { responses[$0] == responses[$1] }) }

    /// Levels of the positions of `ranking`: a position shares its predecessor's level when both
    /// responses are in one tie group or `same` says they are indistinguishable.
    public static func levels(ranking: [Int], ties: [[Int]], same: (Int, Int) -> Bool) -> [Int] {
        var group: [Int: Int] = [:]
        for (g, members) in ties.enumerated() { for m in members { group[m] = g } }
        var out: [Int] = [], level = 0
        for (at, r) in ranking.enumerated() {
            if at > 0 {
                let prev = ranking[at - 1]
                let tied = (group[r] != nil && group[r] == group[prev]) || same(prev, r)
                if !tied { level += 1 }
            }
            out.append(level)
        }
        return out
    }

    /// The ranking positions (i < j) of every pair the levels tell apart, better first: C(K, 2)
    /// less the tied pairs. The one enumeration behind `pairs`, the loss and every accuracy.
    public static func toldApart(_ levels: [Int]) -> [(better: Int, worse: Int)] {
        levels.indices.flatMap { i in ((i + 1)..<levels.count).filter { levels[i] < levels[$0] }.map { (i, $0) } }
    }

    /// How many pairs of positions the levels leave tied.
    public static func tiedCount(_ levels: [Int]) -> Int {
        levels.count * (levels.count - 1) / 2 - toldApart(levels).count
    }

    /// The comparisons a ranking implies, better response first (TRL's chosen/rejected).
    public var pairs: [PreferenceExample] {
        Self.toldApart(levels).map { PreferenceExample(prompt: prompt, chosen: responses[ranking[$0.better]], rejected: responses[ranking[$0.worse]]) }
    }

    /// Pairs of responses the ranking leaves tied.
    public var tiedPairs: Int { Self.tiedCount(levels) }
}

/// A prompt for RL or evaluation, with the reference answer when the task is verifiable.
public struct RLPrompt: Equatable, Sendable {
    public var prompt: String
    public var answer: String?
    public init(prompt: String, answer: String? = nil) { self.prompt = prompt; self.answer = answer }
}

// MARK: - Reading

/// The JSONL layouts Foundry reads.
public enum DatasetFormat: String, CaseIterable, Sendable {
    case sft, prefs, pointwise, prompts, rankings

    /// What a row looks like, for error messages.
    public var expected: String {
        switch self {
        case .sft:
            return #"JSONL with one {"prompt": "...", "completion": "..."} or {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]} object per line"#
        case .prefs:
            return #"JSONL with one {"prompt": "...", "chosen": "...", "rejected": "..."} object per line ("margin" optional), or Anthropic HH rows {"chosen": "\n\nHuman: ...\n\nAssistant: ...", "rejected": "..."}"#
        case .pointwise:
            return #"JSONL with one {"prompt": "...", "completion": "...", "score": 1.0} object per line (or "label": true/false)"#
        case .prompts:
            return #"JSONL with one {"prompt": "...", "answer": "..."} object per line ("answer" optional)"#
        case .rankings:
            return #"JSONL with one {"prompt": "...", "responses": ["...", "..."], "ranking": [1, 0]} object per line (ranking: response indices, best first; optional "ties": [[i, j]], groups judged equally good)"#
        }
    }
}

/// A row that was skipped, and why.
public struct DatasetIssue: Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public let line: Int
    public let problem: String
    public var description: String { "\(path):\(line): \(problem)" }
}

/// The rows of a file that parsed, with the line each came from, and the rows that did not.
public struct DatasetLoad<Row> {
    public let path: String
    public let rows: [Row]
    /// 1-based line number of each row in `rows`.
    public let lines: [Int]
    public let issues: [DatasetIssue]
    /// Non-blank lines in the file.
    public var total: Int { rows.count + issues.count }
}

/// Readers for TRL-style JSONL datasets. Blank lines are ignored; a bad row (invalid JSON, a
/// missing, ill-typed or empty field) is reported as `file:line: problem` and skipped; a file
/// with no valid row is an error. Files ending in `.gz` are decompressed.
public enum Datasets {
    /// How many bad rows `report` lists before it only counts them.
    public static let shownIssues = 20

    /// Writes one line to standard error.
    public static func printToStderr(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Lists up to `shownIssues` issues, then how many more there were and how many rows were kept.
    public static func report(_ issues: [DatasetIssue], kept: Int, path: String, to warn: (String) -> Void) {
        guard !issues.isEmpty else { return }
        for issue in issues.prefix(shownIssues) { warn(issue.description) }
        if issues.count > shownIssues { warn("\(path): ... and \(issues.count - shownIssues) more bad rows") }
        warn("\(path): skipped \(issues.count) bad row\(issues.count == 1 ? "" : "s"), read \(kept)")
    }

    public static func readSFT(path: String, warn: (String) -> Void = Datasets.printToStderr) throws -> [SFTExample] {
        try reported(loadSFT(path: path, warn: warn), warn)
    }
    public static func readPreferences(path: String, warn: (String) -> Void = Datasets.printToStderr) throws -> [PreferenceExample] {
        try reported(loadPreferences(path: path, warn: warn), warn)
    }
    public static func readPointwise(path: String, warn: (String) -> Void = Datasets.printToStderr) throws -> [PointwiseExample] {
        try reported(loadPointwise(path: path, warn: warn), warn)
    }
    public static func readPrompts(path: String, warn: (String) -> Void = Datasets.printToStderr) throws -> [RLPrompt] {
        try reported(loadPrompts(path: path, warn: warn), warn)
    }
    public static func readRankings(path: String, warn: (String) -> Void = Datasets.printToStderr) throws -> [RankingExample] {
        try reported(loadRankings(path: path, warn: warn), warn)
    }

    /// `load*` return the valid rows and the issues without printing; they throw for a missing
    /// or unreadable file, and for a file with no valid row (after calling `warn` with its issues).
    public static func loadSFT(path: String, warn: (String) -> Void = { _ in }) throws -> DatasetLoad<SFTExample> {
        try load(path: path, format: .sft, warn: warn, parse: parseSFT)
    }
    public static func loadPreferences(path: String, warn: (String) -> Void = { _ in }) throws -> DatasetLoad<PreferenceExample> {
        try load(path: path, format: .prefs, warn: warn, parse: parsePreference)
    }
    public static func loadPointwise(path: String, warn: (String) -> Void = { _ in }) throws -> DatasetLoad<PointwiseExample> {
        try load(path: path, format: .pointwise, warn: warn, parse: parsePointwise)
    }
    public static func loadPrompts(path: String, warn: (String) -> Void = { _ in }) throws -> DatasetLoad<RLPrompt> {
        try load(path: path, format: .prompts, warn: warn, parse: parsePrompt)
    }
    public static func loadRankings(path: String, warn: (String) -> Void = { _ in }) throws -> DatasetLoad<RankingExample> {
        try load(path: path, format: .rankings, warn: warn, parse: parseRanking)
    }

    /// Whether a JSONL file's first non-blank row is a ranking (has "responses" and "ranking"):
    /// `foundry reward --data` takes either layout.
    public static func holdsRankings(path: String) -> Bool {
        guard let data = try? DataFile.read(path, hint: "") else { return false }
        for line in data.split(separator: 0x0A) where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) {
            guard let row = try? JSONParser.parse(Data(line)) else { return false }
            return row["responses"] != nil && row["ranking"] != nil
        }
        return false
    }

    /// One ranking row checked exactly as the reader checks it (the server checks what a person
    /// submits with it, so every line it appends reads back); the problem as a `RowError`.
    public static func ranking(from row: JSONValue) throws -> RankingExample {
        do { return try parseRanking(row) } catch let p as RowProblem { throw RowError(field: p.field, description: p.message) }
    }

    static func parseRanking(_ row: JSONValue) throws -> RankingExample {
        let prompt = try string(row, "prompt")
        guard let list = row["responses"]?.array else { throw RowProblem("\"responses\" is missing or not a list of strings") }
        let responses = try list.enumerated().map { i, v -> String in
            guard let s = v.string else { throw RowProblem("\"responses\"[\(i)] is not a string") }
            return s
        }
        guard responses.count >= 2 else { throw RowProblem("a ranking needs at least 2 responses, this row has \(responses.count)") }
        guard let order = row["ranking"]?.array else { throw RowProblem("\"ranking\" is missing or not a list of response indices") }
        let ranking = try order.map { v -> Int in
            guard case .number(let d) = v, d == d.rounded(), d >= 0, d < Double(responses.count) else {
                throw RowProblem("\"ranking\" holds \(v), not an index into the \(responses.count) responses")
            }
            return Int(d)
        }
        guard ranking.count == responses.count, Set(ranking).count == ranking.count else {
            throw RowProblem("\"ranking\" must list each of the \(responses.count) responses once (best first), not \(ranking)")
        }
        let ties = try parseTies(row["ties"], ranking: ranking)
        let temperatures = row["temperatures"]?.array?.compactMap(\.number)
        return RankingExample(prompt: prompt, responses: responses, ranking: ranking, ties: ties,
                              temperatures: temperatures?.count == responses.count ? temperatures : nil)
    }

    /// `"ties": [[i, j, ...], ...]`: groups of at least two response indices, none in two groups,
    /// each group's members next to each other in `ranking`. Absent or null: no ties.
    static func parseTies(_ value: JSONValue?, ranking: [Int]) throws -> [[Int]] {
        guard let value, !value.isNull else { return [] }
        guard let groups = value.array else { throw RowProblem(field: "ties", "\"ties\" must be a list of groups of response indices, e.g. [[0, 2]]") }
        var seen = Set<Int>()
        return try groups.map { g -> [Int] in
            guard let list = g.array, list.count >= 2 else {
                throw RowProblem(field: "ties", "each group in \"ties\" must list at least 2 response indices, not \(g)")
            }
            let members = try list.map { v -> Int in
                guard case .number(let d) = v, d == d.rounded(), d >= 0, d < Double(ranking.count) else {
                    throw RowProblem(field: "ties", "\"ties\" holds \(v), not an index into the \(ranking.count) responses")
                }
                return Int(d)
            }
            guard Set(members).count == members.count, seen.isDisjoint(with: members) else {
                throw RowProblem(field: "ties", "\"ties\" lists response \(members.first { seen.contains($0) } ?? members[0]) twice")
            }
            seen.formUnion(members)
            let places = members.map { ranking.firstIndex(of: $0)! }.sorted()
            guard places.last! - places.first! == places.count - 1 else {
                throw RowProblem(field: "ties", "tied responses \(members) must sit next to each other in \"ranking\" \(ranking)")
            }
            return members
        }
    }

    private static func reported<Row>(_ make: @autoclosure () throws -> DatasetLoad<Row>,
                                      _ warn: (String) -> Void) throws -> [Row] {
        let l = try make()
        report(l.issues, kept: l.rows.count, path: l.path, to: warn)
        return l.rows
    }

    static func load<Row>(path: String, format: DatasetFormat, warn: (String) -> Void,
                          parse: (JSONValue) throws -> Row) throws -> DatasetLoad<Row> {
        let data = try DataFile.read(path, hint: "expected \(format.expected); `foundry data synth` makes example files")
        let bytes = [UInt8](data)
        var rows: [Row] = []
        var lines: [Int] = []
        var issues: [DatasetIssue] = []
        var lineNo = 0
        var start = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }  // UTF-8 byte order mark
        var firstByte: UInt8? = nil
        while start < bytes.count {
            lineNo += 1
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            let next = end + 1
            var hi = end
            if hi > start, bytes[hi - 1] == 0x0D { hi -= 1 }
            var lo = start
            while lo < hi, bytes[lo] == 0x20 || bytes[lo] == 0x09 || bytes[lo] == 0x0D { lo += 1 }
            start = next
            if lo == hi { continue }  // blank line
            if firstByte == nil { firstByte = bytes[lo] }
            let value: JSONValue
            do {
                value = try JSONParser.parse(Data(bytes[lo..<hi]))
            } catch let e as JSONParseError {
                issues.append(DatasetIssue(path: path, line: lineNo, problem: "invalid JSON: \(e.message) at column \(e.offset + 1)"))
                continue
            }
            guard value.object != nil else {
                issues.append(DatasetIssue(path: path, line: lineNo, problem: "the row is \(typeName(value)), not a JSON object"))
                continue
            }
            do {
                rows.append(try parse(value))
                lines.append(lineNo)
            } catch let p as RowProblem {
                issues.append(DatasetIssue(path: path, line: lineNo, problem: p.message))
            }
        }
        if rows.isEmpty {
            if issues.isEmpty {
                throw FoundryError("\(path) is empty (expected \(format.expected))")
            }
            report(issues, kept: 0, path: path, to: warn)
            let arrayHint = firstByte == UInt8(ascii: "[")
                ? "; it looks like one JSON array: convert it to JSONL with `jq -c '.[]' \(path)`" : ""
            throw FoundryError("\(path) has no valid rows (\(issues.count) bad; first: line \(issues[0].line): "
                + "\(issues[0].problem)\(arrayHint)); expected \(format.expected)")
        }
        return DatasetLoad(path: path, rows: rows, lines: lines, issues: issues)
    }

    // MARK: Row parsers

    struct RowProblem: Error {
        let message: String
        /// The field at fault, where a caller reports it (the server's 400 `param`).
        var field: String?
        init(field: String? = nil, _ m: String) { message = m; self.field = field }
    }

    /// A row's problem as `ranking(from:)` reports it: the message and the field at fault.
    public struct RowError: Error, CustomStringConvertible {
        public let field: String?
        public let description: String
    }

    static func typeName(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    static func string(_ row: JSONValue, _ key: String) throws -> String {
        guard let v = row[key] else { throw RowProblem("missing \"\(key)\"") }
        guard let s = v.string else { throw RowProblem("\"\(key)\" must be a string, not \(typeName(v))") }
        guard !s.isEmpty else { throw RowProblem("\"\(key)\" is empty") }
        return s
    }

    static func optionalNumber(_ row: JSONValue, _ key: String) throws -> Double? {
        guard let v = row[key], !v.isNull else { return nil }
        guard case .number(let d) = v else { throw RowProblem("\"\(key)\" must be a number, not \(typeName(v))") }
        return d
    }

    static func messages(_ v: JSONValue, key: String) throws -> [ChatMessage] {
        guard let arr = v.array else { throw RowProblem("\"\(key)\" must be a list of {\"role\", \"content\"} objects, not \(typeName(v))") }
        guard !arr.isEmpty else { throw RowProblem("\"\(key)\" is empty") }
        var out: [ChatMessage] = []
        for (i, m) in arr.enumerated() {
            guard m.object != nil else { throw RowProblem("\(key)[\(i)] must be an object with \"role\" and \"content\", not \(typeName(m))") }
            guard let roleValue = m["role"] else { throw RowProblem("\(key)[\(i)] has no \"role\"") }
            guard let role = roleValue.string else { throw RowProblem("\(key)[\(i)].role must be a string, not \(typeName(roleValue))") }
            guard ["user", "assistant", "system"].contains(role) else {
                throw RowProblem("\(key)[\(i)].role '\(role)' is not user, assistant or system")
            }
            guard let contentValue = m["content"] else { throw RowProblem("\(key)[\(i)] has no \"content\"") }
            guard let content = contentValue.string else {
                throw RowProblem("\(key)[\(i)].content must be a string, not \(typeName(contentValue))")
            }
            guard !content.isEmpty else { throw RowProblem("\(key)[\(i)].content is empty") }
            out.append(ChatMessage(role: role, content: content))
        }
        return out
    }

    static func parseSFT(_ row: JSONValue) throws -> SFTExample {
        if let m = row["messages"] {
            let msgs = try messages(m, key: "messages")
            guard msgs.contains(where: { $0.role == "assistant" }) else {
                throw RowProblem("\"messages\" has no assistant turn (nothing to learn from)")
            }
            return .conversation(msgs)
        }
        if row["prompt"] == nil, row["completion"] == nil {
            throw RowProblem(row["text"] != nil
                ? "a plain \"text\" row is pretraining data (use it with `foundry pretrain`); SFT rows need \"prompt\" and \"completion\", or \"messages\""
                : "missing \"prompt\" and \"completion\" (or \"messages\")")
        }
        // TRL's conversational prompt-completion layout: both fields are lists of messages.
        if let p = row["prompt"], p.array != nil, let c = row["completion"], c.array != nil {
            let msgs = try messages(p, key: "prompt") + messages(c, key: "completion")
            guard msgs.contains(where: { $0.role == "assistant" }) else {
                throw RowProblem("\"completion\" has no assistant turn")
            }
            return .conversation(msgs)
        }
        return .completion(prompt: try string(row, "prompt"), completion: try string(row, "completion"))
    }

    static func parsePreference(_ row: JSONValue) throws -> PreferenceExample {
        for key in ["prompt", "chosen", "rejected"] where row[key]?.array != nil {
            throw RowProblem("\"\(key)\" is a list of messages; Foundry reads preference rows whose prompt/chosen/rejected are strings")
        }
        let margin = try optionalNumber(row, "margin")
        if row["prompt"] != nil {
            return PreferenceExample(prompt: try string(row, "prompt"), chosen: try string(row, "chosen"),
                                     rejected: try string(row, "rejected"), margin: margin)
        }
        // Anthropic HH: full transcripts, the prompt implicit in what both share.
        let chosen = try string(row, "chosen"), rejected = try string(row, "rejected")
        guard let split = hhSplit(chosen: chosen, rejected: rejected) else {
            throw RowProblem("no \"prompt\", and \"chosen\" and \"rejected\" do not share a conversation ending in "
                + "\"\\n\\nAssistant:\" (Anthropic HH rows), so the prompt cannot be found")
        }
        guard !split.chosen.isEmpty else { throw RowProblem("\"chosen\" has nothing after the shared prompt") }
        guard !split.rejected.isEmpty else { throw RowProblem("\"rejected\" has nothing after the shared prompt") }
        return PreferenceExample(prompt: split.prompt, chosen: split.chosen, rejected: split.rejected, margin: margin)
    }

    /// Splits two Anthropic HH transcripts into the prompt they share — their longest common
    /// prefix, cut just after its last "\n\nAssistant:" — and the two replies after it.
    public static func hhSplit(chosen: String, rejected: String) -> (prompt: String, chosen: String, rejected: String)? {
        let c = Array(chosen.utf8), r = Array(rejected.utf8)
        let marker = Array("\n\nAssistant:".utf8)
        var common = 0
        let limit = min(c.count, r.count)
        while common < limit, c[common] == r[common] { common += 1 }
        var s = common - marker.count
        while s >= 0 {
            if c[s] == marker[0], c[s..<(s + marker.count)].elementsEqual(marker) { break }
            s -= 1
        }
        guard s >= 0 else { return nil }
        let end = s + marker.count  // just after the ASCII ':', so a UTF-8 boundary
        return (String(decoding: c[0..<end], as: UTF8.self), String(decoding: c[end...], as: UTF8.self),
                String(decoding: r[end...], as: UTF8.self))
    }

    static func parsePointwise(_ row: JSONValue) throws -> PointwiseExample {
        let prompt = try string(row, "prompt"), completion = try string(row, "completion")
        if let s = row["score"], !s.isNull {
            guard case .number(let d) = s else { throw RowProblem("\"score\" must be a number, not \(typeName(s))") }
            return PointwiseExample(prompt: prompt, completion: completion, score: d)
        }
        if let l = row["label"], !l.isNull {
            guard let b = l.bool else { throw RowProblem("\"label\" must be true or false, not \(typeName(l))") }
            return PointwiseExample(prompt: prompt, completion: completion, score: b ? 1 : 0)
        }
        throw RowProblem("missing \"score\" (a number) or \"label\" (true/false)")
    }

    static func parsePrompt(_ row: JSONValue) throws -> RLPrompt {
        if row["prompt"]?.array != nil {
            throw RowProblem("\"prompt\" is a list of messages; Foundry reads prompt rows whose \"prompt\" is a string")
        }
        let prompt = try string(row, "prompt")
        guard let a = row["answer"], !a.isNull else { return RLPrompt(prompt: prompt, answer: nil) }
        switch a {
        case .string(let s):
            guard !s.isEmpty else { throw RowProblem("\"answer\" is empty (leave it out when there is none)") }
            return RLPrompt(prompt: prompt, answer: s)
        case .number(let d):
            let text = d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
            return RLPrompt(prompt: prompt, answer: text)
        default:
            throw RowProblem("\"answer\" must be a string or a number, not \(typeName(a))")
        }
    }

    // MARK: Writing

    /// Writes rows as JSONL in TRL's field names, atomically.
    public static func write(_ rows: [SFTExample], to path: String) throws {
        try writeLines(path, rows.map { ex in
            switch ex {
            case .completion(let p, let c): return jsonObject([("prompt", .string(p)), ("completion", .string(c))])
            case .conversation(let m):
                return jsonObject([("messages", .array(m.map {
                    .object([("role", .string($0.role)), ("content", .string($0.content))])
                }))])
            }
        })
    }
    public static func write(_ rows: [PreferenceExample], to path: String) throws {
        try writeLines(path, rows.map {
            var f: [(String, JSONValue)] = [("prompt", .string($0.prompt)), ("chosen", .string($0.chosen)),
                                           ("rejected", .string($0.rejected))]
            if let m = $0.margin { f.append(("margin", .number(m))) }
            return jsonObject(f)
        })
    }
    public static func write(_ rows: [PointwiseExample], to path: String) throws {
        try writeLines(path, rows.map {
            jsonObject([("prompt", .string($0.prompt)), ("completion", .string($0.completion)), ("score", .number($0.score))])
        })
    }
    public static func write(_ rows: [RankingExample], to path: String) throws {
        try writeLines(path, rows.map(line))
    }
    /// One ranking as its JSONL line (no newline): what `write` writes per row and the server appends.
    public static func line(_ row: RankingExample) -> [UInt8] {
        var f: [(String, JSONValue)] = [("prompt", .string(row.prompt)), ("responses", .array(row.responses.map { .string($0) })),
                                       ("ranking", .array(row.ranking.map { .number(Double($0)) }))]
        if !row.ties.isEmpty { f.append(("ties", .array(row.ties.map { .array($0.map { .number(Double($0)) }) }))) }
        if let t = row.temperatures { f.append(("temperatures", .array(t.map { .number($0) }))) }
        return jsonObject(f)
    }
    public static func write(_ rows: [RLPrompt], to path: String) throws {
        try writeLines(path, rows.map(line))
    }
    /// Any JSON value as one line (no newline), objects keeping their field order.
    public static func line(_ value: JSONValue) -> [UInt8] {
        var o: [UInt8] = []
        o += value.encoded()
        return o
    }
    /// One prompt row as its JSONL line (no newline).
    public static func line(_ row: RLPrompt) -> [UInt8] {
        var f: [(String, JSONValue)] = [("prompt", .string(row.prompt))]
        if let a = row.answer { f.append(("answer", .string(a))) }
        return jsonObject(f)
    }

    private static func writeLines(_ path: String, _ lines: [[UInt8]]) throws {
        var out: [UInt8] = []
        out.reserveCapacity(lines.reduce(0) { $0 + $1.count + 1 })
        for l in lines { out += l; out.append(0x0A) }
        try AtomicFile.write(Data(out), to: path)
    }

    /// One-line JSON for a row (objects keep their field order).
    static func jsonObject(_ fields: [(String, JSONValue)]) -> [UInt8] { JSONValue.object(fields).encoded() }
}
