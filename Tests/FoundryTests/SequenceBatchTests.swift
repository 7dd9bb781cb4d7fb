import XCTest
import FoundryModel
import FoundryData
import FoundryTrain

/// `SequenceBatch` by hand: right padding, next-token targets shifted by one, −1 wherever the
/// loss must not look, truncation from either end, and the rows a scalar head reads.
final class SequenceBatchTests: XCTestCase {
    func testPaddingTargetsAndLastRows() {
        let b = SequenceBatch(sequences: [[5, 6, 7], [8, 9]], lossMask: [[false, true, true], [false, true]], pad: 0, maxSeq: 8)
        XCTAssertEqual(b.batch, 2)
        XCTAssertEqual(b.seq, 3)
        XCTAssertEqual(b.tokens, [5, 6, 7, 8, 9, 0])
        // Position t predicts token t+1; the last real position and the padding predict nothing.
        XCTAssertEqual(b.targets, [6, 7, -1, 9, -1, -1])
        XCTAssertEqual(b.lengths, [3, 2])
        XCTAssertEqual(b.lastIndex, [2, 1])
        XCTAssertEqual(b.lastRows, [2, 4])
        XCTAssertEqual(b.validTargets, 3)
    }

    func testMaskedTokensAreNotTargets() {
        // Token t is trained when lossMask[t]: its target sits at position t − 1.
        let b = SequenceBatch(sequences: [[1, 2, 3, 4]], lossMask: [[false, true, false, true]], pad: 0, maxSeq: 8)
        XCTAssertEqual(b.targets, [2, -1, 4, -1])
        // Without a mask every next token is a target.
        XCTAssertEqual(SequenceBatch(sequences: [[1, 2, 3]], pad: 9, maxSeq: 8).targets, [2, 3, -1])
    }

    func testTruncationKeepsTheStartOrTheEnd() {
        let mask: [[Bool]] = [[false, true, true, false, true]]
        let start = SequenceBatch(sequences: [[1, 2, 3, 4, 5]], lossMask: mask, pad: 0, maxSeq: 3)
        XCTAssertEqual(start.tokens, [1, 2, 3])
        XCTAssertEqual(start.targets, [2, 3, -1])
        let end = SequenceBatch(sequences: [[1, 2, 3, 4, 5]], lossMask: mask, pad: 0, maxSeq: 3, keepEnd: true)
        XCTAssertEqual(end.tokens, [3, 4, 5])
        // The mask is cut with its tokens: 4 (masked out) and 5 (trained) remain after 3.
        XCTAssertEqual(end.targets, [-1, 5, -1])
        XCTAssertEqual(end.lastRows, [2])
    }

    func testRowsOfOneToken() {
        let b = SequenceBatch(sequences: [[4], [1, 2]], pad: 0, maxSeq: 4)
        XCTAssertEqual(b.tokens, [4, 0, 1, 2])
        XCTAssertEqual(b.targets, [-1, -1, 2, -1])
        XCTAssertEqual(b.lastRows, [0, 3])
    }
}
