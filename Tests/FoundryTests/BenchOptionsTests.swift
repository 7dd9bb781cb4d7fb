import FoundryCheck
import XCTest

/// `foundry bench` and `foundry kernels bench` refuse bad options before opening a device.
final class BenchOptionsTests: XCTestCase {
    func testGemmShapesParse() throws {
        let s = try XCTUnwrap(KernelBench.parseShape("384x1536x4096tn"))
        XCTAssertEqual([s.1, s.2, s.3], [384, 1536, 4096])
        XCTAssertTrue(s.4); XCTAssertFalse(s.5)
        let plain = try XCTUnwrap(KernelBench.parseShape("7x3x9"))
        XCTAssertEqual([plain.1, plain.2, plain.3], [7, 3, 9])
        XCTAssertFalse(plain.4 || plain.5)
        XCTAssertTrue(try XCTUnwrap(KernelBench.parseShape("2x2x2NT")).5)
        for bad in ["", "12x3", "0x4x4", "4x4x-1", "axbxc", "4x4x4xx", "4x4x4ab"] {
            XCTAssertNil(KernelBench.parseShape(bad), bad)
        }
    }

    func testBadShapesAreOneClearError() throws {
        let r = try CLI.run(["kernels", "bench", "--shapes", "768x384x128,12x3"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertLessThan(r.status, 128, "crashed: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("--shapes") && r.stderr.contains("'12x3'") && r.stderr.contains("MxNxK"), r.stderr)
    }

    func testNegativeBabyStepsAreRefused() throws {
        let r = try CLI.run(["bench", "--baby-steps=-1", "--out", FileManager.default.temporaryDirectory.appendingPathComponent("never.json").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertLessThan(r.status, 128, "crashed: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("--baby-steps") && r.stderr.contains("-1"), r.stderr)
        XCTAssertFalse(r.stdout.contains("foundry bench on"), "refused before opening a device: \(r.stdout)")
    }
}
