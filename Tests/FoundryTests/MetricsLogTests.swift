import XCTest
import Foundation
import FoundryTrain

/// metrics.jsonl rows are JSON whatever their values: strings escaped, non-finite numbers null,
/// keys in the order given.
final class MetricsLogTests: XCTestCase {
    func testRowsAreValidJSONInOrder() throws {
        let path = CLI.tempDir() + "/metrics.jsonl"
        let log = try MetricsLog(path: path, append: false)
        log.write([("step", 3), ("note", "a \"quoted\"\nline\\"), ("loss", 2.5), ("lr", Float(0.001)), ("bad", Double.nan), ("ok", true)])
        log.write([("step", 4), ("loss", Double.infinity)])
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
}
