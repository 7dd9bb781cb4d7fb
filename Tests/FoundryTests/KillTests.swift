import XCTest
import Foundation
import FoundryCore
import FoundryFiles
import FoundryCPU
import FoundryModel

/// A pretraining run that saves every step, killed with SIGKILL at 20 seeded random moments:
/// after each kill the directory holds one step's files (model, optimizer and stage state
/// agree), and `--resume` finishes the run with the losses of a run never interrupted, every
/// digit (CPU backend), each step once in metrics.jsonl.
final class KillTests: XCTestCase {
    func args(_ out: String, text: String) -> [String] {
        ["pretrain", "--data", text, "--out", out, "--steps", "24", "--layers", "1", "--heads", "2", "--embd", "16", "--context", "16",
         "--batch", "4", "--warmup", "3", "--eval-every", "0", "--save-every", "1", "--log-every", "100", "--backend", "cpu"]
    }

    /// step → loss from metrics.jsonl, failing on a step written twice.
    func losses(_ dir: String) throws -> [Int: Double] {
        let text = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8)
        var out: [Int: Double] = [:]
        for line in text.split(separator: "\n") {
            let row = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let step = try XCTUnwrap(row["step"] as? Int)
            XCTAssertNil(out[step], "step \(step) appears twice in \(dir)/metrics.jsonl")
            out[step] = try XCTUnwrap(row["loss"] as? Double)
        }
        return out
    }

    /// The step each file of the checkpoint says it holds.
    func steps(_ dir: String) throws -> (model: Int?, optimizer: Int?, state: Int) {
        let (_, meta) = try Checkpoint.loadWithMetadata(dir, device: CPUDevice())
        let (_, optMeta) = try SafeTensors.read(path: dir + "/stage_state.safetensors")
        let state = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/stage_state.json"))) as? [String: Any])
        return (meta["step"].flatMap(Int.init), optMeta["step"].flatMap(Int.init), try XCTUnwrap(state["step"] as? Int))
    }

    func testKilledRunsResumeExactly() throws {
        let work = CLI.tempDir(), text = work + "/text.txt"
        try Data(String(repeating: "the quick brown fox jumps over the lazy dog. ", count: 400).utf8).write(to: URL(fileURLWithPath: text))
        let reference = work + "/reference"
        let started = Date()
        let r = try CLI.run(args(reference, text: text))
        XCTAssertEqual(r.status, 0, r.stderr)
        let duration = Date().timeIntervalSince(started)
        let want = try losses(reference)
        XCTAssertEqual(want.count, 24)

        var rng = RNG(seed: 2026)
        var killedWithCheckpoint = 0
        for k in 0..<20 {
            let dir = work + "/run\(k)"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLI.binary)
            p.arguments = args(dir, text: text)
            p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(UInt32(rng.uniform() * Float(duration) * 1_000_000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            var resumeArgs = args(dir, text: text)
            if Checkpoint.exists(dir) {
                killedWithCheckpoint += 1
                let s = try steps(dir)
                XCTAssertEqual(s.model, s.state, "kill \(k): model.safetensors and stage_state.json disagree")
                XCTAssertEqual(s.optimizer, s.state, "kill \(k): stage_state.safetensors and stage_state.json disagree")
                resumeArgs.append("--resume")
            }
            let resumed = try CLI.run(resumeArgs)
            XCTAssertEqual(resumed.status, 0, "kill \(k): \(resumed.stderr)")
            XCTAssertEqual(try losses(dir), want, "kill \(k): the resumed run's losses differ from the uninterrupted run's")
            let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") || $0.hasSuffix(".next") || $0 == FileSet.journal || $0 == RunLock.file }
            XCTAssertEqual(left, [], "kill \(k): temporary files left behind")
        }
        XCTAssertGreaterThan(killedWithCheckpoint, 5, "most kills should land after the first save")
    }
}
