import XCTest
import Foundation
import FoundryCore
import FoundryCPU
import FoundryData
import FoundryModel
import FoundryTrain

/// Rankings of K responses as reward-model data (InstructGPT): the loss by hand and against
/// finite differences, K = 2 rankings training the same model as the pairs they are, the file
/// format and its conversion to pairs.
final class RankingTests: XCTestCase {
    func testLossByHandAndFiniteDifferences() {
        // Rewards of the responses ranked 1st, 2nd, 3rd: pairs (1,2) z=1, (1,3) z=2, (2,3) z=1.
        let l = Losses.ranking(rewards: [1, 0, -1])
        func nls(_ z: Double) -> Double { log(1 + exp(-z)) }          // −log σ(z)
        func g(_ z: Double) -> Double { 1 / (1 + exp(z)) }             // −d/dz of it: 1 − σ(z)
        XCTAssertEqual(l.loss, (nls(1) + nls(2) + nls(1)) / 3, accuracy: 1e-12)
        XCTAssertEqual(l.dRewards[0], -(g(1) + g(2)) / 3, accuracy: 1e-12)
        XCTAssertEqual(l.dRewards[1], (g(1) - g(1)) / 3, accuracy: 1e-12)
        XCTAssertEqual(l.dRewards[2], (g(2) + g(1)) / 3, accuracy: 1e-12)
        XCTAssertEqual(l.correct, 3); XCTAssertEqual(l.pairs, 3)
        XCTAssertEqual(l.margin, (1 + 2 + 1) / 3, accuracy: 1e-12)
        // Finite differences at random rewards, K = 4, with the centring term on.
        var rng = RNG(seed: 5)
        let r = (0..<4).map { _ in rng.normal() }
        let a = Losses.ranking(rewards: r, centerCoefficient: 0.01)
        for i in 0..<4 {
            var up = r, down = r
            up[i] += 1e-6; down[i] -= 1e-6
            let numeric = (Losses.ranking(rewards: up, centerCoefficient: 0.01).loss - Losses.ranking(rewards: down, centerCoefficient: 0.01).loss) / 2e-6
            XCTAssertEqual(a.dRewards[i], numeric, accuracy: 1e-7, "reward \(i)")
        }
    }

    func model() throws -> GPT2 {
        let m = try GPT2(config: GPT2Config(vocabSize: 9, maxSeq: 12, channels: 16, layers: 1, heads: 2), device: CPUDevice())
        try m.initialise(seed: 4)
        return m
    }

    /// Two-response rankings (either order in the file) and the pairs they are: the same weights, bit for bit.
    func testTwoResponseRankingsTrainTheModelOfTheirPairs() throws {
        var rows: [(prompt: [Int32], a: [Int32], b: [Int32], aBetter: Bool)] = []
        for i in 0..<7 {
            let prompt: [Int32] = [Int32(1 + i % 4), 2], a: [Int32] = [3, Int32(i % 5 + 1)], b: [Int32] = [5, 6, Int32(i % 3)]
            rows.append((prompt, a, b, i % 2 == 0))
        }
        func example(_ p: [Int32], _ c: [Int32]) -> TokenizedExample {
            TokenizedExample(tokens: p + c, lossMask: p.map { _ in false } + c.map { _ in true })
        }
        let rankings = rows.map { r in
            TokenizedRanking(responses: [example(r.prompt, r.a), example(r.prompt, r.b)], ranking: r.aBetter ? [0, 1] : [1, 0])
        }
        let pairs = rows.map { r in
            r.aBetter ? TokenizedPair(chosen: example(r.prompt, r.a), rejected: example(r.prompt, r.b))
                      : TokenizedPair(chosen: example(r.prompt, r.b), rejected: example(r.prompt, r.a))
        }
        var o = RewardOptions(); o.lr = 1e-2; o.epochs = 3; o.batch = 3; o.warmup = 1
        let quiet = try StageLog(metricsPath: nil) { _ in }
        let fromRankings = RewardModel(backbone: try model(), head: ScalarHead(channels: 16, seed: 1))
        let h1 = try RewardTrainer(model: fromRankings, options: o, pad: 0).run(rankings: rankings, log: quiet)
        let fromPairs = RewardModel(backbone: try model(), head: ScalarHead(channels: 16, seed: 1))
        let h2 = try RewardTrainer(model: fromPairs, options: o, pad: 0).run(pairs, log: quiet)
        XCTAssertEqual(h1.map(\.loss), h2.map(\.loss))
        XCTAssertEqual(try fromRankings.backbone.device.read(fromRankings.backbone.params), try fromPairs.backbone.device.read(fromPairs.backbone.params))
        XCTAssertEqual(fromRankings.head.weight, fromPairs.head.weight)
    }

    func testFileFormatAndPairs() throws {
        let dir = CLI.tempDir(), path = dir + "/rankings.jsonl"
        let good = RankingExample(prompt: "Which?", responses: ["a", "b", "c"], ranking: [2, 0, 1])
        try Datasets.write([good], to: path)
        XCTAssertTrue(Datasets.holdsRankings(path: path))
        XCTAssertEqual(try Datasets.readRankings(path: path), [good])
        XCTAssertEqual(good.pairs.map { "\($0.chosen)>\($0.rejected)" }, ["c>a", "c>b", "a>b"])
        let bad = [#"{"prompt": "p", "responses": ["a", "b"], "ranking": [0, 0]}"#, #"{"prompt": "p", "responses": ["a"], "ranking": [0]}"#,
                   #"{"prompt": "p", "responses": ["a", "b"], "ranking": [0, 2]}"#, #"{"prompt": "p", "responses": ["a", 3], "ranking": [0, 1]}"#]
        try (bad.joined(separator: "\n") + "\n" + #"{"prompt": "q", "responses": ["x", "y"], "ranking": [1, 0]}"#)
            .write(toFile: path, atomically: true, encoding: .utf8)
        var warnings: [String] = []
        let l = try Datasets.loadRankings(path: path) { warnings.append($0) }
        XCTAssertEqual(l.rows.count, 1)
        XCTAssertEqual(l.issues.count, 4, "\(l.issues)")
        // The command line: rankings to pairs.
        let out = dir + "/prefs.jsonl"
        try Datasets.write([good], to: path)
        let r = try CLI.run(["data", "pairs", "--rankings", path, "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try Datasets.readPreferences(path: out), good.pairs)
    }

    /// The simulated person: the correct answer first, the wrong ones by how close they come,
    /// distinct responses in a shuffled order, as reproducible as the rest of the task.
    func testSimulatedRankings() throws {
        do {   // compare: the answer is the larger of the two numbers in the prompt
            var task = try SynthTask(family: .compare, seed: 3, digits: 1...2)
            task.demoSlip = 0.7
            let rows = task.rankings(50, k: 4)
            XCTAssertEqual(rows, task.rankings(50, k: 4))
            var shuffled = 0
            for r in rows {
                XCTAssertEqual(Set(r.responses).count, r.responses.count, "distinct: \(r)")
                XCTAssertTrue((2...4).contains(r.responses.count))
                XCTAssertEqual(r.ranking.sorted(), Array(r.responses.indices))
                let best = r.responses[r.ranking[0]]
                let numbers = r.prompt.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
                let answer = String(try XCTUnwrap(numbers.max(), r.prompt))
                XCTAssertTrue(SynthTask.check(completion: best, answer: answer), "\(r)")
                for wrong in r.ranking.dropFirst() { XCTAssertFalse(SynthTask.check(completion: r.responses[wrong], answer: answer), "\(r)") }
                let distances = r.ranking.dropFirst().map { Int(r.responses[$0]).map { abs($0 - Int(answer)!) } ?? Int.max }
                XCTAssertEqual(distances, distances.sorted(), "closer wrong answers rank higher: \(r)")
                if r.ranking != Array(r.responses.indices) { shuffled += 1 }
            }
            XCTAssertGreaterThan(shuffled, 25, "responses are shown shuffled")
        }
        let dir = CLI.tempDir()
        let r = try CLI.run(["data", "synth", "--out", dir, "--sft", "0", "--prefs", "6", "--rl", "0", "--eval", "0", "--corpus-chars", "0", "--rankings", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try Datasets.readRankings(path: dir + "/rankings.jsonl").count, 6)
    }

    /// Ties: tied pairs leave the loss, its average, the gradient and the counts; by hand, and
    /// against finite differences with the centring term on.
    func testTiedPairsAreLeftOutOfTheLoss() {
        func nls(_ z: Double) -> Double { log(1 + exp(-z)) }
        func g(_ z: Double) -> Double { 1 / (1 + exp(z)) }
        // Ranked 1st and 2nd tied (level 0), 3rd below: only the pairs (1,3) z=2 and (2,3) z=1 count.
        let l = Losses.ranking(rewards: [1, 0, -1], levels: [0, 0, 1])
        XCTAssertEqual(l.pairs, 2); XCTAssertEqual(l.correct, 2)
        XCTAssertEqual(l.loss, (nls(2) + nls(1)) / 2, accuracy: 1e-12)
        XCTAssertEqual(l.dRewards[0], -g(2) / 2, accuracy: 1e-12)
        XCTAssertEqual(l.dRewards[1], -g(1) / 2, accuracy: 1e-12)
        XCTAssertEqual(l.dRewards[2], (g(2) + g(1)) / 2, accuracy: 1e-12)
        XCTAssertEqual(l.margin, (2 + 1) / 2, accuracy: 1e-12)
        // All tied: nothing to learn.
        let none = Losses.ranking(rewards: [0.3, -2, 5], levels: [0, 0, 0])
        XCTAssertEqual(none.loss, 0); XCTAssertEqual(none.pairs, 0); XCTAssertEqual(none.dRewards, [0, 0, 0])
        // Finite differences, K = 5 with two tie groups.
        var rng = RNG(seed: 9)
        let r = (0..<5).map { _ in rng.normal() }, levels = [0, 0, 1, 2, 2]
        let a = Losses.ranking(rewards: r, levels: levels, centerCoefficient: 0.01)
        XCTAssertEqual(a.pairs, 10 - 2)
        for i in 0..<5 {
            var up = r, down = r
            up[i] += 1e-6; down[i] -= 1e-6
            let numeric = (Losses.ranking(rewards: up, levels: levels, centerCoefficient: 0.01).loss
                           - Losses.ranking(rewards: down, levels: levels, centerCoefficient: 0.01).loss) / 2e-6
            XCTAssertEqual(a.dRewards[i], numeric, accuracy: 1e-7, "reward \(i)")
        }
    }

    /// The rankings format with ties: written and read back, old rows (no ties) still read,
    /// identical texts count as tied, bad tie groups are refused with the reason, and `data pairs`
    /// leaves tied pairs and pairs with an empty response out, saying so.
    func testTiesInTheFileAndInPairs() throws {
        let dir = CLI.tempDir(), path = dir + "/rankings.jsonl"
        let tiedRow = RankingExample(prompt: "Which?", responses: ["a", "b", "c", "d"], ranking: [3, 1, 0, 2], ties: [[1, 0]],
                                     temperatures: [1, 1, 1.5, 1.5])
        let old = #"{"prompt": "Old?", "responses": ["x", "y"], "ranking": [1, 0]}"#
        try Datasets.write([tiedRow], to: path)
        try (String(contentsOfFile: path, encoding: .utf8) + old + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let rows = try Datasets.readRankings(path: path)
        XCTAssertEqual(rows.first, tiedRow)
        XCTAssertEqual(rows.last?.ties, [])
        XCTAssertEqual(tiedRow.levels, [0, 1, 1, 2])
        XCTAssertEqual(tiedRow.pairs.map { "\($0.chosen)>\($0.rejected)" }, ["d>b", "d>a", "d>c", "b>c", "a>c"])
        XCTAssertEqual(tiedRow.tiedPairs, 1)
        let same = RankingExample(prompt: "p", responses: ["5", "5", "7"], ranking: [0, 1, 2])
        XCTAssertEqual(same.levels, [0, 0, 1], "identical texts cannot be told apart")
        XCTAssertEqual(same.pairs.count, 2)
        let bad = [#"{"prompt": "p", "responses": ["a", "b", "c"], "ranking": [0, 1, 2], "ties": [[0, 2]]}"#,
                   #"{"prompt": "p", "responses": ["a", "b", "c"], "ranking": [0, 1, 2], "ties": [[0]]}"#,
                   #"{"prompt": "p", "responses": ["a", "b", "c"], "ranking": [0, 1, 2], "ties": [[0, 1], [1, 2]]}"#,
                   #"{"prompt": "p", "responses": ["a", "b", "c"], "ranking": [0, 1, 2], "ties": [[0, 5]]}"#,
                   #"{"prompt": "p", "responses": ["a", "b", "c"], "ranking": [0, 1, 2], "ties": "0,1"}"#]
        try (bad.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        var warnings: [String] = []
        XCTAssertThrowsError(try Datasets.loadRankings(path: path) { warnings.append($0) })
        XCTAssertEqual(warnings.filter { $0.contains("ties") || $0.contains("tied") }.count, 5, "\(warnings)")
        // data pairs: tied pairs and pairs with an empty response are left out, and counted.
        let some = RankingExample(prompt: "Which?", responses: ["a", "", "c", "d"], ranking: [0, 2, 3, 1], ties: [[0, 2]])
        try Datasets.write([some], to: path)
        let out = dir + "/prefs.jsonl"
        let r = try CLI.run(["data", "pairs", "--rankings", path, "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("1 tied") && r.stdout.contains("3 with an empty response"), r.stdout)
        XCTAssertEqual(try Datasets.readPreferences(path: out).map { "\($0.chosen)>\($0.rejected)" }, ["a>d", "c>d"])
        let none = RankingExample(prompt: "Which?", responses: ["a", "", "c"], ranking: [0, 2, 1], ties: [[0, 2]])
        try Datasets.write([none], to: path)
        let allTied = try CLI.run(["data", "pairs", "--rankings", path, "--out", out])
        XCTAssertNotEqual(allTied.status, 0)
        XCTAssertTrue(allTied.stderr.contains("no pairs"), allTied.stderr)
    }

    /// The page's simulated person: correct first, then wrong bare numbers, then the rest; ties within each.
    func testThePagePersonJudges() {
        let j = SynthTask.judge(answer: "63", responses: ["36", "63", "six", "7", "63 is larger"])
        XCTAssertEqual(j.ranking, [1, 0, 3, 2, 4])
        XCTAssertEqual(j.ties, [[0, 3], [2, 4]])
        let one = SynthTask.judge(answer: "9", responses: ["8", "9"])
        XCTAssertEqual(one.ranking, [1, 0]); XCTAssertEqual(one.ties, [])
    }
}
