import XCTest
import FoundryCore
import FoundryCPU
import FoundryModel
import FoundrySample

/// The one picking core every decoder shares (`TokenChooser`, `DecodingSequence`): a sequence's
/// tokens come from its own settings and generator, whichever sequences share its step.
final class DecodingTests: XCTestCase {
    func settings(_ t: Float, topK: Int = 0, stop: Set<Int32> = [], max: Int = 10, penalty: Float = 1, seed: UInt64 = 1) -> SamplingSettings {
        var s = SamplingSettings()
        s.filter = SamplingFilter(temperature: t, topK: topK); s.stopTokens = stop; s.maxTokens = max; s.repetitionPenalty = penalty; s.seed = seed
        return s
    }

    func testASequenceEndsAtAStopTokenOrItsLastToken() {
        var a = DecodingSequence(prompt: [1], settings: settings(1, stop: [7], max: 3))
        XCTAssertFalse(a.accept(4)); XCTAssertTrue(a.accept(7))
        XCTAssertEqual(a.generated, [4, 7], "the stop token is kept")
        var b = DecodingSequence(prompt: [1], settings: settings(1, max: 2))
        XCTAssertFalse(b.accept(4)); XCTAssertTrue(b.accept(5)); XCTAssertTrue(b.finished)
        XCTAssertTrue(DecodingSequence(prompt: [1], settings: settings(1, max: 0)).finished)
    }

    /// Rows picked together (one launch when they share a filter, row by row when not) give
    /// each sequence the tokens it gets alone, over several steps with their generators moving.
    func testSequencesPickTheSameTokensTogetherAsAlone() throws {
        let d = CPUDevice()
        let model = try GPT2(config: GPT2Config(vocabSize: 50, maxSeq: 16, channels: 8, layers: 1, heads: 2), device: d)
        let V = 50
        var rng = RNG(seed: 9)
        let kinds: [[SamplingSettings]] = [
            [settings(0.8, seed: 1), settings(0.8, seed: 2), settings(0.8, seed: 3)],                 // shared: one launch
            [settings(0.8, seed: 1), settings(0, seed: 2), settings(1.3, topK: 5, penalty: 1.5, seed: 3)],  // mixed: row by row
        ]
        for list in kinds {
            var together = list.map { DecodingSequence(prompt: [1, 2], settings: $0) }
            var alone = list.map { [DecodingSequence(prompt: [1, 2], settings: $0)] }
            let chooser = TokenChooser(model: model)
            for _ in 0..<6 {
                let logits = (0..<list.count * V).map { _ in rng.uniform() * 6 - 3 }
                let all = try chooser.choose(try d.upload(logits), &together)
                for i in list.indices {
                    let one = try chooser.choose(try d.upload(Array(logits[i * V..<(i + 1) * V])), &alone[i])[0]
                    XCTAssertEqual(all[i], one, "row \(i)")
                    together[i].accept(all[i]); alone[i][0].accept(one)
                }
            }
            XCTAssertGreaterThan(Set(together.flatMap(\.generated)).count, 3, "the draws vary")
        }
    }
}
