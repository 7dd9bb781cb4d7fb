import FoundryCore

/// A tokenised training example: the tokens and which of them the loss is computed on.
public struct TokenizedExample {
    public var tokens: [Int32]
    public var lossMask: [Bool]
    public init(tokens: [Int32], lossMask: [Bool]) {
        precondition(tokens.count == lossMask.count)
        self.tokens = tokens; self.lossMask = lossMask
    }
}

/// A tokenised comparison: the same prompt with a preferred and a dispreferred response.
public struct TokenizedPair {
    public var chosen: TokenizedExample
    public var rejected: TokenizedExample
    public var margin: Double
    public init(chosen: TokenizedExample, rejected: TokenizedExample, margin: Double = 0) {
        self.chosen = chosen; self.rejected = rejected; self.margin = margin
    }
}

/// A tokenised ranking: one prompt's responses, `ranking` their indices best first.
public struct TokenizedRanking {
    public var responses: [TokenizedExample]
    public var ranking: [Int]
    /// Each ranked position's level (`RankingExample.levels`): equal levels are tied.
    public var levels: [Int]
    public init(responses: [TokenizedExample], ranking: [Int], ties: [[Int]] = []) {
        self.responses = responses; self.ranking = ranking
        levels = RankingExample.levels(ranking: ranking, ties: ties) { responses[$0].tokens == responses[$1].tokens }
    }

    /// The responses best first.
    public var ranked: [TokenizedExample] { ranking.map { responses[$0] } }
    /// Its comparisons, better first: C(K, 2) less the tied pairs.
    public var pairs: [TokenizedPair] {
        let r = ranked
        return RankingExample.toldApart(levels).map { TokenizedPair(chosen: r[$0.better], rejected: r[$0.worse]) }
    }
    /// The best response(s) against each response ranked below them: the pairs DPO takes from
    /// rankings, so that its NLL term (rpo_alpha) trains only on answers the person ranked first.
    public var bestPairs: [TokenizedPair] {
        let r = ranked
        return r.indices.filter { levels[$0] == 0 }.flatMap { i in
            r.indices.filter { levels[$0] > 0 }.map { TokenizedPair(chosen: r[i], rejected: r[$0]) }
        }
    }
    /// Pairs left tied (by the person, or identical responses).
    public var tiedPairs: Int { RankingExample.tiedCount(levels) }
}
