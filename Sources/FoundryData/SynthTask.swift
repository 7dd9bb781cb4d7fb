import Foundation
import FoundryCore
import FoundryFiles

/// Foundry's own verifiable task family, generated from a seed (no download).
///
/// "arithmetic": `What is 47+385?` → `432` (with `subtraction`, also `What is 385-47?` → `338`;
/// results are never negative). Operands have `digits` digits (default 2–3), so difficulty is
/// tunable. The pieces fit the post-training pipeline:
///
/// - `pretrainCorpus`: true equations in *other* surface forms ("47+385=432.", "The sum of 47 and
///   385 is 432.", worksheets, small stories) mixed with `BuiltinCorpus` text. A model pretrained
///   on it knows sums but has never seen the chat format, so SFT has the format to teach.
/// - `sftExamples`, `preferencePairs`, `pointwiseExamples`, `rlPrompts`: training data.
/// - `evalPrompts`: held out. Whether a problem is held out depends only on its operands (and
///   operation), never on the seed, so no eval problem appears in any training output of any
///   seed — pretraining text included. For `+` the pair is unordered (47+385 and 385+47 go together).
/// - `check(completion:answer:)`: the ground-truth verifier.
///
/// "compare": `Which is larger: 47 or 85?` → `85` (two distinct operands of `digits` digits; that
/// one chat template is the only prompt form, so SFT, RL and eval agree). Its pretraining text
/// states comparisons in other forms ("85 is larger than 47.", "Of 12 and 9, the larger is 12.",
/// "47 < 85"), and the unordered pair decides whether a problem is held out. `subtraction` is
/// ignored.
///
/// Every method is deterministic for a given seed, independent of call order, and `f(n)` is a
/// prefix of `f(m)` for n < m.
public struct SynthTask: Sendable {
    /// The task families: sums (and differences) of numbers, or the larger of two numbers.
    public enum Family: String, CaseIterable, Sendable {
        case arithmetic, compare
    }
    public static var knownNames: [String] { Family.allCases.map(\.rawValue) }
    public static let defaultFamily = Family.arithmetic
    public static let defaultSeed: UInt64 = 1
    public static let defaultDigits = 2...3

    public let family: Family
    public var name: String { family.rawValue }
    public let seed: UInt64
    /// Operand lengths in digits.
    public let digits: ClosedRange<Int>
    /// Also pose subtraction problems (half the problems).
    public let subtraction: Bool
    /// Fraction of `pretrainCorpus` characters that are arithmetic paragraphs (the rest is BuiltinCorpus text).
    public var arithmeticShare: Double = 0.5

    /// The simulated demonstrator's slip rate: the probability that an SFT demonstration of a
    /// hard case carries a systematic human mistake — in "compare", a close call (the numbers
    /// less than 20 apart) answered with the first number mentioned; in "arithmetic", a sum
    /// with a carry written without it. Comparisons (`preferencePairs`) are always judged
    /// correctly: judging is easier than demonstrating, the premise of RLHF. 0 = perfect
    /// demonstrations. SFT imitates the slip; the reward model, PPO, DPO and GRPO can undo it.
    public var demoSlip = SynthTask.defaultDemoSlip
    public static let defaultDemoSlip = 0.0

    /// One problem in ten is held out for evaluation.
    static let heldOutModulus: UInt64 = 10

    /// A task by its family's name (see `knownNames`).
    public init(name: String, seed: UInt64 = defaultSeed, digits: ClosedRange<Int> = defaultDigits,
                subtraction: Bool = false) throws {
        guard let family = Family(rawValue: name) else {
            throw FoundryError("unknown synthetic task '\(name)' (known tasks: \(SynthTask.knownNames.joined(separator: ", ")))")
        }
        try self.init(family: family, seed: seed, digits: digits, subtraction: subtraction)
    }

    public init(family: Family = defaultFamily, seed: UInt64 = defaultSeed, digits: ClosedRange<Int> = defaultDigits,
                subtraction: Bool = false) throws {
        guard digits.lowerBound >= 1, digits.upperBound <= 9, digits.lowerBound <= digits.upperBound else {
            throw FoundryError("operand digits \(digits.lowerBound)-\(digits.upperBound) are out of range (use 1 to 9 digits, e.g. 2-3)")
        }
        self.family = family
        self.seed = seed
        self.digits = digits
        self.subtraction = subtraction
    }

    // MARK: Problems

    enum Op: Sendable { case add, sub, cmp }

    struct Problem: Hashable, Sendable {
        let a: Int
        let b: Int
        let op: Op
        var symbol: String { op == .add ? "+" : "-" }
        var result: Int {
            switch op {
            case .add: return a + b
            case .sub: return a - b
            case .cmp: return max(a, b)
            }
        }
        var smaller: Int { min(a, b) }
        var answer: String { String(result) }
        var expression: String { "\(a)\(symbol)\(b)" }
        var prompt: String { op == .cmp ? SynthTask.comparePrompt(a, b) : "What is \(expression)?" }
    }

    /// The one chat prompt of the "compare" task.
    static func comparePrompt(_ a: Int, _ b: Int) -> String { "Which is larger: \(a) or \(b)?" }

    /// Seed-independent held-out split by operands (the unordered pair for `+` and compare).
    static func isHeldOut(_ p: Problem) -> Bool {
        let (x, y) = p.op == .sub ? (p.a, p.b) : (min(p.a, p.b), max(p.a, p.b))
        var h = (UInt64(x) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(y) &* 0xC2B2_AE3D_27D4_EB4F)
        if p.op == .sub { h ^= 0x1656_67B1_9E37_79F9 }
        if p.op == .cmp { h ^= 0x2545_F491_4F6C_DD1D }
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 31
        return h % heldOutModulus == 0
    }

    /// An independent random stream per output, so outputs do not depend on call order.
    func stream(_ k: UInt64) -> RNG { RNG(seed: seed &+ k &* 0xD1B5_4A32_D192_ED03) }

    func operand(_ rng: inout RNG) -> Int {
        let d = digits.lowerBound + rng.below(digits.count)
        let lo = d == 1 ? 0 : pow10(d - 1)
        return lo + rng.below(pow10(d) - lo)
    }

    var isCompare: Bool { family == .compare }

    /// Operand lengths written as N or MIN-MAX (e.g. 3 or 2-3), each 1 to 9 digits.
    public static func parseDigits(_ s: String) throws -> ClosedRange<Int> {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        let bounds: (Int, Int)?
        switch parts.count {
        case 1: bounds = parts[0].map { ($0, $0) }
        case 2: bounds = parts[0].flatMap { a in parts[1].map { (a, $0) } }
        default: bounds = nil
        }
        guard let (a, b) = bounds else { throw FoundryError("--digits '\(s)' is not N or MIN-MAX (e.g. 3 or 2-3)") }
        guard a >= 1, b <= 9, a <= b else {
            throw FoundryError("--digits \(s): operands must have 1 to 9 digits, MIN ≤ MAX (e.g. 2-3)")
        }
        return a...b
    }

    /// A slip rate is a probability.
    public static func checkDemoSlip(_ rate: Double) throws {
        guard (0...1).contains(rate) else { throw FoundryError("--demo-slip must be between 0 and 1 (e.g. 0.7), not \(rate)") }
    }

    func randomProblem(_ rng: inout RNG) -> Problem {
        if isCompare {
            let a = operand(&rng)
            var b = operand(&rng)
            while b == a { b = operand(&rng) }
            return Problem(a: a, b: b, op: .cmp)
        }
        let op: Op = subtraction && rng.below(2) == 1 ? .sub : .add
        var a = operand(&rng), b = operand(&rng)
        if op == .sub, a < b { swap(&a, &b) }
        return Problem(a: a, b: b, op: op)
    }

    func trainingProblem(_ rng: inout RNG) -> Problem {
        while true {
            let p = randomProblem(&rng)
            if !SynthTask.isHeldOut(p) { return p }
        }
    }

    // MARK: Outputs

    public func sftExamples(_ n: Int) -> [SFTExample] {
        var rng = stream(2)
        var slips = stream(7)
        return (0..<max(0, n)).map { _ in
            let p = trainingProblem(&rng)
            if demoSlip > 0, let slip = demonstratorSlip(p), Double(slips.below(1 << 20)) / Double(1 << 20) < demoSlip {
                return SFTExample(prompt: p.prompt, completion: slip)
            }
            return SFTExample(prompt: p.prompt, completion: p.answer)
        }
    }

    /// Whether a problem is a hard case for the simulated demonstrator (see `demoSlip`).
    func isHardCase(_ p: Problem) -> Bool {
        p.op == .cmp ? abs(p.a - p.b) < 20 : carryError(p) != nil
    }

    /// The demonstrator's mistake on a hard case, or nil when the problem is not one (or the
    /// mistake would happen to be right: the first number of a close call that is the larger).
    func demonstratorSlip(_ p: Problem) -> String? {
        guard isHardCase(p) else { return nil }
        let slip = p.op == .cmp ? String(p.a) : carryError(p)
        return slip.flatMap { SynthTask.check(completion: $0, answer: p.answer) ? nil : $0 }
    }

    /// Chosen: the correct answer. Rejected: a near miss (one digit off by one, a dropped carry or
    /// borrow, swapped digits, the wrong operation, a lost digit) or a badly formed reply (the
    /// answer wrapped in words, or no answer). Every chosen passes `check`, every rejected fails it.
    ///
    /// With `demoSlip` > 0, a hard case's rejected answer is the demonstrator's slip at that same
    /// rate: InstructGPT's labelers ranked the SFT model's own samples, so the mistakes they saw
    /// most are the ones SFT learned — and those are the comparisons that teach the reward model
    /// (and DPO) what SFT gets wrong.
    public func preferencePairs(_ n: Int) -> [PreferenceExample] {
        var rng = stream(3)
        var slips = stream(8)
        return (0..<max(0, n)).map { _ in
            let p = trainingProblem(&rng)
            let other = rejected(for: p, &rng)
            if demoSlip > 0, let slip = demonstratorSlip(p), Double(slips.uniform()) < demoSlip {
                return PreferenceExample(prompt: p.prompt, chosen: p.answer, rejected: slip)
            }
            return PreferenceExample(prompt: p.prompt, chosen: p.answer, rejected: other)
        }
    }

    /// A simulated person ranking `k` responses to each of `n` prompts (InstructGPT's labelling):
    /// the correct answer and k − 1 distinct wrong ones, drawn as `preferencePairs` draws its
    /// rejected answer (the demonstrator's slip among them at the same rate). The person puts the
    /// correct answer first and the wrong ones by how close they come: a number nearer the answer
    /// above a farther one, a reply that is not a bare number last. The responses are shown in
    /// a shuffled order; a problem with too few distinct wrong answers gets fewer responses (≥ 2).
    public func rankings(_ n: Int, k: Int) -> [RankingExample] {
        var rng = stream(9)
        var slips = stream(10)
        return (0..<max(0, n)).map { _ in
            let p = trainingProblem(&rng)
            var wrong: [String] = []
            if demoSlip > 0, let slip = demonstratorSlip(p), Double(slips.uniform()) < demoSlip { wrong.append(slip) }
            for _ in 0..<(20 * k) where wrong.count < k - 1 {
                let c = rejected(for: p, &rng)
                if !wrong.contains(c) { wrong.append(c) }
            }
            let target = Int(p.answer)
            func distance(_ s: String) -> Int { Int(s).flatMap { v in target.map { abs(v - $0) } } ?? Int.max }
            let best = [p.answer] + wrong.enumerated().sorted { (distance($0.element), $0.offset) < (distance($1.element), $1.offset) }.map(\.element)
            var shown = Array(best.indices)
            for i in stride(from: shown.count - 1, to: 0, by: -1) { shown.swapAt(i, rng.below(i + 1)) }
            return RankingExample(prompt: p.prompt, responses: shown.map { best[$0] },
                                  ranking: best.indices.map { rank in shown.firstIndex(of: rank)! })
        }
    }

    /// The simulated person of the Rank page: knowing the answer, they put the correct
    /// responses first, then wrong answers that are at least a bare number, then replies that
    /// are not a number at all; responses in one of these three groups are equally good to
    /// them, so each group of two or more is a tie. Returns the ranking (indices best first)
    /// and the tie groups, as the page submits them.
    public static func judge(answer: String, responses: [String]) -> (ranking: [Int], ties: [[Int]]) {
        func level(_ r: String) -> Int {
            if check(completion: r, answer: answer) { return 0 }
            let t = r.trimmingCharacters(in: .whitespacesAndNewlines)
            return !t.isEmpty && t.allSatisfy({ $0.isASCII && $0.isNumber }) ? 1 : 2
        }
        let levels = responses.map(level)
        let ranking = responses.indices.sorted { (levels[$0], $0) < (levels[$1], $1) }
        let ties = (0...2).map { l in ranking.filter { levels[$0] == l } }.filter { $0.count >= 2 }
        return (ranking, ties)
    }

    /// Scored completions: about half correct (score 1), half rejected-style (score 0).
    public func pointwiseExamples(_ n: Int) -> [PointwiseExample] {
        var rng = stream(6)
        return (0..<max(0, n)).map { _ in
            let p = trainingProblem(&rng)
            if rng.below(2) == 0 { return PointwiseExample(prompt: p.prompt, completion: p.answer, score: 1) }
            return PointwiseExample(prompt: p.prompt, completion: rejected(for: p, &rng), score: 0)
        }
    }

    public func rlPrompts(_ n: Int) -> [RLPrompt] {
        var rng = stream(4)
        return (0..<max(0, n)).map { _ in
            let p = trainingProblem(&rng)
            return RLPrompt(prompt: p.prompt, answer: p.answer)
        }
    }

    /// Up to `n` distinct held-out problems (fewer only when the held-out set is smaller, e.g. 1-digit operands).
    public func evalPrompts(_ n: Int) -> [RLPrompt] {
        var rng = stream(5)
        var seen = Set<Problem>()
        var out: [RLPrompt] = []
        var attempts = 0
        let limit = 1000 * max(0, n) + 100_000
        while out.count < n, attempts < limit {
            attempts += 1
            let p = randomProblem(&rng)
            guard SynthTask.isHeldOut(p), !seen.contains(p) else { continue }
            seen.insert(p)
            out.append(RLPrompt(prompt: p.prompt, answer: p.answer))
        }
        return out
    }

    /// The verifier: the completion — cut at `<|endoftext|>` if present, leading whitespace
    /// dropped, then cut at the first newline and trimmed — must equal the answer exactly.
    public static func check(completion: String, answer: String) -> Bool {
        var s = Substring(completion)
        if let r = s.range(of: TokenizerSpecials.eos) { s = s[..<r.lowerBound] }
        s = s.drop(while: { $0.isWhitespace })
        if let nl = s.firstIndex(where: { $0.isNewline }) { s = s[..<nl] }
        let got = s.trimmingCharacters(in: .whitespaces)
        let want = answer.trimmingCharacters(in: .whitespacesAndNewlines)
        return !want.isEmpty && got == want
    }

    // MARK: Rejected completions

    func rejected(for p: Problem, _ rng: inout RNG) -> String {
        if p.op == .cmp { return rejectedComparison(for: p, &rng) }
        let ans = p.answer
        for _ in 0..<8 {
            let k = rng.below(100)
            let candidate: String?
            switch k {
            case 0..<22: candidate = offByOneDigit(ans, &rng)
            case 22..<40: candidate = carryError(p)
            case 40..<52: candidate = swappedDigits(ans, &rng)
            case 52..<60: candidate = p.op == .add ? String(abs(p.a - p.b)) : String(p.a + p.b)
            case 60..<68: candidate = ans.count >= 2 ? String(ans.dropLast()) : nil
            case 68..<88:
                let forms = ["The answer is \(ans).", "It is \(ans).", "I think it is \(ans).",
                             "\(ans) is the answer.", "\(p.expression)=\(ans)"]
                candidate = forms[rng.below(forms.count)]
            default:
                let forms = ["I do not know.", "It is a big number.", "Let me think.", "What is it?", "The sum is"]
                candidate = forms[rng.below(forms.count)]
            }
            if let c = candidate, !c.isEmpty, !SynthTask.check(completion: c, answer: ans) { return c }
        }
        return offByOneDigit(ans, &rng)
    }

    /// Compare: the smaller number, a near miss of the larger (a digit off by one, swapped
    /// digits, a lost or an extra digit, digits mixed from both numbers), a number not in the
    /// question, or a badly formed reply ("85 is larger", "47 or 85", no answer).
    func rejectedComparison(for p: Problem, _ rng: inout RNG) -> String {
        let ans = p.answer, big = p.result, small = p.smaller
        for _ in 0..<8 {
            let candidate: String?
            // Weighted toward the answers that are hard to tell from the right one (a reward model
            // learns malformed replies quickly; it needs many examples of plausible wrong numbers).
            switch rng.below(100) {
            case 0..<28: candidate = String(small)
            case 28..<38: candidate = offByOneDigit(ans, &rng)
            case 38..<42: candidate = swappedDigits(ans, &rng)
            case 42..<45: candidate = ans.count >= 2 ? String(ans.dropLast()) : nil
            case 45..<53:
                // Digits of the two numbers mixed: the larger's first digit, the other's last.
                candidate = String(ans.dropLast()) + String(String(small).last!)
            case 53..<58:
                // One digit too many (a repeated digit or a stray one at the end).
                candidate = rng.below(2) == 0 ? ans + String(ans.last!) : ans + String(rng.below(10))
            case 58..<84:
                // A number that is not in the question at all, often bigger than both: the
                // answer a policy learns to give when it games a reward model that only
                // learned "bigger is better".
                // Half of them just above the answer with as many digits ("9" for 7 or 5, "99"
                // for 0 or 89): what PPO produced against a reward model that lacked them.
                let top = pow10(digits.upperBound), sameLength = pow10(ans.count)
                let x: Int
                switch rng.below(4) {
                case 0, 1: x = big + 1 + rng.below(max(1, sameLength - big - 1))
                case 2: x = big + 1 + rng.below(max(1, top - big - 1))
                default: x = rng.below(top)
                }
                candidate = x == p.a || x == p.b || x >= top ? nil : String(x)
            case 84..<95:
                let forms = ["\(big) is larger", "\(p.a) or \(p.b)", "The larger is \(big).", "It is \(big).",
                             "\(big) > \(small)", "\(small) < \(big)", "\(big) is larger than \(small)."]
                candidate = forms[rng.below(forms.count)]
            default:
                let forms = ["I do not know.", "They are the same.", "Let me think.", "It is the first one.", "The larger one."]
                candidate = forms[rng.below(forms.count)]
            }
            if let c = candidate, !c.isEmpty, !SynthTask.check(completion: c, answer: ans) { return c }
        }
        return String(small)
    }

    /// One digit moved up or down by one (never creating a leading zero).
    func offByOneDigit(_ ans: String, _ rng: inout RNG) -> String {
        var d = Array(ans.utf8).map { Int($0) - 48 }
        let neg = ans.hasPrefix("-")
        if neg { d.removeFirst() }
        let i = rng.below(d.count)
        var v = d[i] + (rng.below(2) == 0 ? 1 : -1)
        if v < 0 || v > 9 { v = 2 * d[i] - v }
        if i == 0, v == 0, d.count > 1 { v = d[i] + 1 <= 9 ? d[i] + 1 : d[i] - 1 }
        d[i] = v
        return (neg ? "-" : "") + d.map(String.init).joined()
    }

    /// Addition without carries (digit by digit, mod 10), or subtraction without borrows (the
    /// smaller digit from the larger); nil when the problem has no carry/borrow.
    func carryError(_ p: Problem) -> String? {
        var x = p.a, y = p.b
        var digitsOut: [Int] = []
        while x > 0 || y > 0 {
            let da = x % 10, db = y % 10
            digitsOut.append(p.op == .add ? (da + db) % 10 : abs(da - db))
            x /= 10; y /= 10
        }
        var v = 0
        for d in digitsOut.reversed() { v = v * 10 + d }
        return v == p.result ? nil : String(v)
    }

    /// Two adjacent different digits swapped (no leading zero); nil when there is no such pair.
    func swappedDigits(_ ans: String, _ rng: inout RNG) -> String? {
        var c: [Character] = Array(ans)
        var candidates: [Int] = []
        for i in 0..<max(0, c.count - 1) {
            let x: Character = c[i], y: Character = c[i + 1]
            if x == y || !x.isNumber || !y.isNumber { continue }
            if i == 0 && y == "0" { continue }
            candidates.append(i)
        }
        guard !candidates.isEmpty else { return nil }
        let i = candidates[rng.below(candidates.count)]
        c.swapAt(i, i + 1)
        return String(c)
    }

    // MARK: Pretraining text

    /// Exactly `characters` ASCII characters: arithmetic paragraphs (a share of `arithmeticShare`)
    /// interleaved with BuiltinCorpus paragraphs, separated by blank lines. It opens with one
    /// sentence of every arithmetic form, so even a short corpus has every character the task
    /// prompts and completions use. Only story text is ever cut short, never an equation.
    public func pretrainCorpus(characters: Int) -> String {
        guard characters > 0 else { return "" }
        let share = min(1, max(0, arithmeticShare))
        let storyBudget = Int(Double(characters) * (1 - share)) + 16_384
        let storyText = BuiltinCorpus.generate(characters: storyBudget, seed: seed)
        var stories = storyText.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        if stories.count > 1 { stories.removeLast() }  // generate() cut the last one short
        if isCompare { stories = stories.filter { !SynthTask.mentionsHeldOutPair($0) } }
        var nextStory = 0
        var rng = stream(1)
        var out: [UInt8] = []
        out.reserveCapacity(characters)
        var arithmeticChars = 0

        func append(_ paragraph: String) -> Bool {
            let bytes = Array(paragraph.utf8)
            guard out.count + bytes.count + 2 <= characters else { return false }
            out += bytes
            out += [0x0A, 0x0A]
            return true
        }

        if share > 0 {
            let primer = primerParagraph(&rng)
            if append(primer) { arithmeticChars += primer.utf8.count + 2 }
        }
        while out.count < characters {
            let wantArithmetic = share > 0
                && (share >= 1 || nextStory >= stories.count || Double(arithmeticChars) < share * Double(out.count))
            let paragraph: String
            if wantArithmetic {
                paragraph = arithmeticParagraph(&rng)
            } else {
                paragraph = stories[nextStory]
                nextStory += 1
            }
            guard append(paragraph) else { break }
            if wantArithmetic { arithmeticChars += paragraph.utf8.count + 2 }
        }
        // Fill the rest with story text (cut mid-sentence if need be; never an equation).
        while out.count < characters {
            let rest = characters - out.count
            let piece: [UInt8]
            if nextStory < stories.count {
                piece = Array((stories[nextStory] + "\n\n").utf8)
                nextStory += 1
            } else {
                var text = BuiltinCorpus.generate(characters: rest, seed: seed &+ 1)
                if isCompare {
                    text = text.components(separatedBy: "\n\n").filter { !SynthTask.mentionsHeldOutPair($0) }
                        .joined(separator: "\n\n")
                }
                piece = Array(text.utf8)
            }
            out += piece.prefix(rest)
            if piece.isEmpty { out += [UInt8](repeating: 0x0A, count: rest) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether two distinct numbers in `text` form a held-out compare pair (story text that
    /// does is left out of the compare task's pretraining text).
    static func mentionsHeldOutPair(_ text: String) -> Bool {
        var numbers = Set<Int>()
        var current: Int? = nil
        for b in text.utf8 {
            if b >= 48 && b <= 57 {
                let d = Int(b) - 48
                current = (current ?? 0) > 100_000_000 ? current : (current ?? 0) * 10 + d
            } else if let n = current {
                numbers.insert(n)
                current = nil
            }
        }
        if let n = current { numbers.insert(n) }
        let list = numbers.sorted()
        for i in 0..<list.count {
            for j in (i + 1)..<list.count where isHeldOut(Problem(a: list[i], b: list[j], op: .cmp)) { return true }
        }
        return false
    }

    private static let names = ["Mira", "Tom", "Anna", "Ben", "Lena", "Sam", "Rosa", "Leo", "Ella", "Max", "Nora", "Finn"]
    private static let things = ["apples", "coins", "stones", "books", "shells", "beads", "nuts", "cards", "eggs", "pears"]

    /// One sentence stating a true fact about `p`, in form `form` (of `formCount(p.op)`).
    func sentence(_ p: Problem, form: Int, _ rng: inout RNG) -> String {
        let a = p.a, b = p.b, c = p.result, e = "\(p.expression)=\(c)"
        let name = SynthTask.names[rng.below(SynthTask.names.count)]
        let thing = SynthTask.things[rng.below(SynthTask.things.count)]
        switch (p.op, form) {
        case (.add, 0): return "\(e)."
        case (.add, 1): return "The sum of \(a) and \(b) is \(c)."
        case (.add, 2): return "\(name) added \(a) and \(b) and got \(c), because \(e)."
        case (.add, 3): return "On the board the teacher wrote \(e)."
        case (.add, 4): return "What is the sum of \(a) and \(b)? It is \(c), since \(e)."
        case (.add, 5): return "\(name) had \(a) \(thing) and found \(b) more, so now \(name) has \(e) \(thing)."
        case (.add, 6): return "\(a) plus \(b) makes \(c)."
        case (.add, _): return "I think the answer to \(p.expression) is \(c). Let me check: \(e). Yes, I know it is right."
        case (.sub, 0): return "\(e)."
        case (.sub, 1): return "The difference between \(a) and \(b) is \(c)."
        case (.sub, 2): return "If you take \(b) from \(a), you get \(c), because \(e)."
        case (.sub, 3): return "\(name) had \(a) \(thing) and gave away \(b), so \(name) has \(e) \(thing) left."
        case (.sub, _): return "\(a) minus \(b) is \(c)."
        case (.cmp, 0): return "\(c) is larger than \(p.smaller)."
        case (.cmp, 1): return "Of \(a) and \(b), the larger is \(c)."
        case (.cmp, 2): return "\(SynthTask.inequality(p))."
        case (.cmp, 3): return "\(p.smaller) is smaller than \(c)."
        case (.cmp, 4): return "\(name) had \(a) \(thing) and a friend had \(b), so the larger pile had \(c) \(thing)."
        case (.cmp, 5): return "Which number is bigger, \(a) or \(b)? The bigger one is \(c)."
        case (.cmp, 6): return "Compare \(a) and \(b): \(c) is greater."
        case (.cmp, _): return "I think the larger of \(a) and \(b) is \(c). They are not the same. Let me check: \(c) > \(p.smaller). Yes, I know it is right, as both of them show."
        }
    }

    /// "47 < 85" or "85 > 47", in the problem's order.
    static func inequality(_ p: Problem) -> String { "\(p.a) \(p.a < p.b ? "<" : ">") \(p.b)" }

    func formCount(_ op: Op) -> Int {
        switch op {
        case .add: return 8
        case .sub: return 5
        case .cmp: return 8
        }
    }

    /// Every form once, in order.
    func primerParagraph(_ rng: inout RNG) -> String {
        var parts: [String] = []
        for op in isCompare ? [Op.cmp] : subtraction ? [Op.add, .sub] : [.add] {
            for f in 0..<formCount(op) {
                var p = trainingProblem(&rng)
                while p.op != op { p = trainingProblem(&rng) }
                parts.append(sentence(p, form: f, &rng))
            }
        }
        return parts.joined(separator: " ")
    }

    func arithmeticParagraph(_ rng: inout RNG) -> String {
        if isCompare, rng.below(2) == 0 {
            let lines = (0..<(3 + rng.below(6))).map { _ -> String in
                SynthTask.inequality(trainingProblem(&rng))
            }
            return "Compare the numbers:\n" + lines.joined(separator: "\n")
        }
        if !isCompare, rng.below(2) == 0 {
            let lines = (0..<(3 + rng.below(6))).map { _ -> String in
                let p = trainingProblem(&rng)
                return "\(p.expression)=\(p.result)"
            }
            return (subtraction ? "Practice sums and differences:\n" : "Practice sums:\n") + lines.joined(separator: "\n")
        }
        return (0..<(2 + rng.below(3))).map { _ -> String in
            let p = trainingProblem(&rng)
            return sentence(p, form: rng.below(formCount(p.op)), &rng)
        }.joined(separator: " ")
    }

    // MARK: Files

    public struct Sizes: Sendable {
        public var sft: Int
        public var prefs: Int
        public var rl: Int
        public var eval: Int
        public var corpusCharacters: Int
        /// Responses per ranking in rankings.jsonl (as many rows as `prefs`); 0 writes none.
        public var rankK = 0

        public init(sft: Int = 4000, prefs: Int = 4000, rl: Int = 2000, eval: Int = 500, corpusCharacters: Int = 1_000_000, rankK: Int = 0) {
            self.sft = sft; self.prefs = prefs; self.rl = rl; self.eval = eval; self.corpusCharacters = corpusCharacters; self.rankK = rankK
        }

        /// Counts are 0 (skip that file) or more.
        public func validate() throws {
            for (label, v) in [("--sft", sft), ("--prefs", prefs), ("--rl", rl), ("--eval", eval), ("--corpus-chars", corpusCharacters)] where v < 0 {
                throw FoundryError("\(label) is \(v): counts must be 0 (skip that file) or more")
            }
            guard rankK == 0 || (2...16).contains(rankK) else { throw FoundryError("--rankings \(rankK): rank 2 to 16 responses per prompt (0: none)") }
        }
    }

    /// One file `write` made: its path, and how many rows (or characters, for pretrain.txt) it holds.
    public struct WrittenFile: Sendable {
        public let path: String
        public let count: Int
        public let what: String
    }

    /// Writes pretrain.txt, sft.jsonl, prefs.jsonl, rl_prompts.jsonl and eval.jsonl (TRL field
    /// names) into `dir`, creating it if needed; each file atomically. A size of 0 skips that file.
    @discardableResult
    public func write(to dir: String, sizes: Sizes = Sizes()) throws -> [WrittenFile] {
        try sizes.validate()
        try AtomicFile.makeDirectory(dir)
        func path(_ f: String) -> String { (dir as NSString).appendingPathComponent(f) }
        var written: [WrittenFile] = []
        if sizes.corpusCharacters > 0 {
            let p = path("pretrain.txt")
            try AtomicFile.write(Data(pretrainCorpus(characters: sizes.corpusCharacters).utf8), to: p)
            written.append(WrittenFile(path: p, count: sizes.corpusCharacters, what: "characters of pretraining text"))
        }
        if sizes.sft > 0 {
            let p = path("sft.jsonl")
            try Datasets.write(sftExamples(sizes.sft), to: p)
            written.append(WrittenFile(path: p, count: sizes.sft, what: "prompt/completion rows"))
        }
        if sizes.prefs > 0 {
            let p = path("prefs.jsonl")
            try Datasets.write(preferencePairs(sizes.prefs), to: p)
            written.append(WrittenFile(path: p, count: sizes.prefs, what: "prompt/chosen/rejected rows"))
        }
        if sizes.rankK >= 2 && sizes.prefs > 0 {
            let p = path("rankings.jsonl")
            try Datasets.write(rankings(sizes.prefs, k: sizes.rankK), to: p)
            written.append(WrittenFile(path: p, count: sizes.prefs, what: "prompt/responses/ranking rows of \(sizes.rankK) responses"))
        }
        if sizes.rl > 0 {
            let p = path("rl_prompts.jsonl")
            try Datasets.write(rlPrompts(sizes.rl), to: p)
            written.append(WrittenFile(path: p, count: sizes.rl, what: "prompt/answer rows"))
        }
        if sizes.eval > 0 {
            let p = path("eval.jsonl")
            let rows = evalPrompts(sizes.eval)
            try Datasets.write(rows, to: p)
            written.append(WrittenFile(path: p, count: rows.count, what: "held-out prompt/answer rows"))
        }
        return written
    }
}

private func pow10(_ n: Int) -> Int {
    var v = 1
    for _ in 0..<n { v *= 10 }
    return v
}
