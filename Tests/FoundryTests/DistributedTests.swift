import Foundation
import XCTest

/// Data-parallel training under Open MPI (`mpirun`; Debian's openmpi-bin, which `.ci/run`
/// installs): 2 ranks each computing half of every batch take the same steps as 1 process
/// computing all of it. Skipped, saying so, where mpirun is missing.
final class DistributedTests: XCTestCase {
    static var mpirun: String? {
        ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first(where: FileManager.default.isExecutableFile)
    }

    /// `mpirun -np N foundry ARGS` (bounded: a hang fails the test instead of stalling CI).
    func mpi(_ n: Int, _ args: [String]) throws -> (status: Int32, output: String) {
        guard let mpirun = Self.mpirun else { throw XCTSkip("mpirun is not installed (Debian: apt-get install openmpi-bin)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        p.arguments = ["-s", "KILL", "300", mpirun, "--oversubscribe", "-np", "\(n)", CLI.binary] + args
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"   // CI runs as root
        p.environment = env
        let out = Pipe()
        p.standardOutput = out; p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func losses(_ dir: String) throws -> [Double] {
        try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap((try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["loss"] as? Double)
        }
    }

    /// 20 pretraining steps: 2 ranks × batch 2 = 1 process × batch 4, within 1e-5, on both backends.
    func testTwoRanksTrainLikeOneProcessWithTheWholeBatch() throws {
        for backend in ["cpu", "opencl"] {
            let args = ["pretrain", "--steps", "20", "--layers", "2", "--heads", "2", "--embd", "32", "--context", "32", "--batch", "4",
                        "--eval-every", "0", "--save-every", "0", "--backend", backend]
            let one = CLI.tempDir() + "/one", two = CLI.tempDir() + "/two"
            let plain = try CLI.run(args + ["--out", one])
            XCTAssertEqual(plain.status, 0, plain.stderr)
            let ranks = try mpi(2, args + ["--out", two])
            XCTAssertEqual(ranks.status, 0, ranks.output)
            XCTAssertTrue(ranks.output.contains("2 ranks of 2 rows each"), ranks.output)
            XCTAssertEqual(ranks.output.components(separatedBy: "done: 20 steps").count, 2, "rank 0 alone reports: \(ranks.output)")
            let a = try losses(one), b = try losses(two)
            XCTAssertEqual(a.count, 20); XCTAssertEqual(b.count, 20)
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5, backend) }
            XCTAssertGreaterThan(a.first! - a.last!, 0.05, "the run trained")
        }
    }

    /// A global batch that does not split over the ranks: one clear message, non-zero, no hang.
    func testBatchThatDoesNotSplitIsRefused() throws {
        let r = try mpi(2, ["pretrain", "--steps", "2", "--layers", "1", "--heads", "1", "--embd", "8", "--context", "8", "--batch", "3",
                            "--eval-every", "0", "--backend", "cpu", "--out", CLI.tempDir() + "/x"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertNotEqual(r.status, 137, "killed by the timeout: the ranks hung")
        XCTAssertTrue(r.output.contains("--batch 3 does not split evenly over 2 ranks"), r.output)
    }
}
