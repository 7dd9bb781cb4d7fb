import XCTest
import Foundation
import FoundryData
import FoundryTrain

/// metrics.jsonl rows are JSON whatever their values: strings escaped, non-finite numbers null,
/// keys in the order given.
final class MetricsLogTests: XCTestCase {
    func testRowsAreValidJSONInOrder() throws {
        let path = CLI.tempDir() + "/metrics.jsonl"
        let log = try MetricsLog(path: path, append: false)
        log.write([("step", .number(3)), ("note", .string("a \"quoted\"\nline\\")), ("loss", .number(2.5)), ("lr", .number(0.001)),
                   ("bad", .number(.nan)), ("ok", .bool(true))])
        log.write([("step", .number(4)), ("loss", .number(.infinity))])
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let row = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        XCTAssertEqual(row["step"] as? Int, 3)
        XCTAssertEqual(row["note"] as? String, "a \"quoted\"\nline\\")
        XCTAssertEqual(row["loss"] as? Double, 2.5)
        XCTAssertEqual(try XCTUnwrap(row["lr"] as? Double), 0.001, accuracy: 1e-9)
        XCTAssertTrue(row["bad"] is NSNull)
        XCTAssertEqual(row["ok"] as? Bool, true)
        XCTAssertTrue(lines[0].hasPrefix("{\"step\": 3, \"note\": "), String(lines[0]))
        let second = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        XCTAssertTrue(second["loss"] is NSNull)
    }

    /// A resumed run keeps the rows up to its step; `curve` reads one figure back (a row
    /// without it, or with null, is skipped).
    func testResumeKeepsEarlierRowsAndCurvesReadThemBack() throws {
        let path = CLI.tempDir() + "/metrics.jsonl"
        let log = try MetricsLog(path: path, append: false)
        for step in 1...4 { log.write([("step", .number(Double(step))), ("loss", .number(step == 3 ? .nan : 1 / Double(step)))]) }
        _ = try MetricsLog(path: path, append: true, resumingAt: 3)
        XCTAssertEqual(MetricsLog.curve(path, "loss").map(\.step), [1, 2])
        XCTAssertEqual(MetricsLog.curve(path, "loss").map(\.value), [1, 0.5])
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count, 3)
        XCTAssertTrue(MetricsLog.curve(path, "missing").isEmpty)
        XCTAssertTrue(MetricsLog.curve(path + ".absent", "loss").isEmpty)
    }
}
