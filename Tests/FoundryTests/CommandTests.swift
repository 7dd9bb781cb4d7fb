import XCTest
import FoundryCore
import FoundryFiles
import Foundation
import FoundryOpenCL

/// End-to-end behaviour of the commands a user runs first.
final class CommandTests: XCTestCase {
    func corpus() -> String {
        let p = CLI.tempDir() + "/corpus.txt"
        let text = String(repeating: "to be or not to be, that is the question. whether tis nobler in the mind to suffer. ", count: 60)
        FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }

    let tiny = ["--layers", "1", "--heads", "2", "--embd", "16", "--context", "16", "--batch", "4", "--warmup", "2",
                "--log-every", "5", "--backend", "cpu"]

    func testPretrainWritesAHuggingFaceCheckpointAndMetrics() throws {
        let out = CLI.tempDir() + "/run"
        let r = try CLI.run(["pretrain", "--data", corpus(), "--out", out, "--steps", "12", "--eval-every", "6"] + tiny)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("val_loss"), r.stdout)
        XCTAssertTrue(r.stdout.contains("tokens_per_sec") && r.stdout.contains("ETA"), r.stdout)
        for f in ["config.json", "model.safetensors", "tokenizer.json", "stage_state.safetensors", "stage_state.json", "metrics.jsonl"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + f), f)
        }
        let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 12)
        let last = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as! [String: Any]
        for k in ["step", "loss", "lr", "grad_norm", "tokens_per_sec", "val_loss"] { XCTAssertNotNil(last[k], k) }
        // No temp files left behind by the atomic writes.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.contains(".tmp") }
        XCTAssertEqual(leftovers, [])
        // The checkpoint generates, on both backends, the same text for the same seed.
        let a = try CLI.run(["sample", "--model", out, "--prompt", "to be", "--max-tokens", "20", "--seed", "3", "--backend", "cpu"])
        let b = try CLI.run(["sample", "--model", out, "--prompt", "to be", "--max-tokens", "20", "--seed", "3", "--backend", "cpu"])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(a.stdout, b.stdout)
        XCTAssertTrue(a.stdout.hasPrefix("to be"))
    }

    func testMaskedObjectiveFillsAndSampleRefuses() throws {
        let out = CLI.tempDir() + "/masked"
        let r = try CLI.run(["pretrain", "--data", corpus(), "--out", out, "--steps", "8", "--objective", "masked", "--eval-every", "4"] + tiny)
        XCTAssertEqual(r.status, 0, r.stderr)
        let fill = try CLI.run(["fill", "--model", out, "--text", "be or [MASK]ot to be", "--backend", "cpu"])
        XCTAssertEqual(fill.status, 0, fill.stderr)
        XCTAssertTrue(fill.stdout.contains("position 6:") && fill.stdout.contains("filled: be or "), fill.stdout)
        let s = try CLI.run(["sample", "--model", out, "--prompt", "to", "--backend", "cpu"])
        XCTAssertNotEqual(s.status, 0)
        XCTAssertTrue(s.stderr.contains("masked") && s.stderr.contains("foundry fill"), s.stderr)
        // And fill refuses a causal model.
        let causal = CLI.tempDir() + "/causal"
        XCTAssertEqual(try CLI.run(["pretrain", "--data", corpus(), "--out", causal, "--steps", "2", "--eval-every", "0"] + tiny).status, 0)
        let f2 = try CLI.run(["fill", "--model", causal, "--text", "to [MASK]", "--backend", "cpu"])
        XCTAssertNotEqual(f2.status, 0)
        XCTAssertTrue(f2.stderr.contains("causal"), f2.stderr)
    }

    /// Ctrl-C, SIGTERM and SIGHUP each save a checkpoint and stop (exit 130), resumable.
    func testSignalsSaveACheckpoint() throws {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            let out = CLI.tempDir() + "/interrupted"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLI.binary)
            p.arguments = ["pretrain", "--data", corpus(), "--out", out, "--steps", "100000", "--eval-every", "0",
                           "--save-every", "0"] + tiny
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            try p.run()
            // Wait for training to be under way, then interrupt it.
            var seen = Data()
            let deadline = Date().addingTimeInterval(120)
            while !String(decoding: seen, as: UTF8.self).contains("step    5/"), Date() < deadline {
                let chunk = pipe.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                seen += chunk
            }
            kill(p.processIdentifier, sig)
            seen += pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 130, "signal \(sig)")
            XCTAssertTrue(String(decoding: seen, as: UTF8.self).contains("the same command and --resume"), "signal \(sig)")
            let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/stage_state.json"))) as! [String: Any]
            XCTAssertGreaterThanOrEqual(state["step"] as! Int, 5, "signal \(sig)")
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/model.safetensors"), "signal \(sig)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/" + RunLock.file), "the lock is released")
        }
    }

    func testNoOpenCLPlatformIsOneClearLine() throws {
        let empty = CLI.tempDir()   // an ICD directory with no drivers in it
        let r = try CLI.run(["devices"], environment: ["OCL_ICD_VENDORS": empty, "OCL_ICD_FILENAMES": ""])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("pocl-opencl-icd") && r.stderr.contains("--backend cpu"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
    }

    func testCompiledKernelsAreCachedOnDisk() throws {
        _ = try TestDevices.openCL()   // built (or loaded) once already
        let again = try OpenCLDevice(index: 0)
        XCTAssertTrue(again.programFromCache, "the second open should load the cached binary")
    }

    func testKernelBuildFailureShowsTheBuildLog() throws {
        _ = try TestDevices.openCL()
        // An empty tile size makes the GEMM kernel fail to compile.
        let r = try CLI.run(["kernels", "test", "--small", "--only", "gemm"],
                            environment: ["FOUNDRY_CL_OPTIONS": "-DGEMM_TM=", "FOUNDRY_CACHE_DIR": CLI.tempDir()])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertLessThan(r.status, 128, r.stderr)
        XCTAssertTrue(r.stderr.contains("kernel build failed") && r.stderr.contains("build log"), r.stderr)
        XCTAssertTrue(r.stderr.contains("error"), "the compiler's own messages are shown: \(r.stderr)")
    }

    func testKernelsTestCommandPrintsATable() throws {
        _ = try TestDevices.openCL()
        let r = try CLI.run(["kernels", "test", "--small", "--only", "gemm"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("max error") && r.stdout.contains("gemm_tn"), r.stdout)
        XCTAssertTrue(r.stdout.contains(" passed, 0 failed"), r.stdout)
    }
}
