import XCTest
import FoundryCore
import FoundryFiles
import FoundryCPU
import FoundryData
import FoundryModel
import FoundryTrain

/// 10 steps, save, reload, 10 more give the same losses as 20 uninterrupted steps.
final class ResumeTests: XCTestCase {
    func options() -> PretrainOptions {
        var o = PretrainOptions()
        o.layers = 2; o.heads = 2; o.embd = 16; o.context = 16; o.batch = 4; o.steps = 20
        o.warmup = 3; o.evalEvery = 0; o.saveEvery = 0; o.logEvery = 1000; o.previewTokens = 0; o.gradAccum = 2
        return o
    }

    func run(_ device: Device, stopAt: Int?, resume: Bool, dir: String) throws -> [Double] {
        let text = BuiltinCorpus.generate(characters: 20_000, seed: 3)
        let tok = CharTokenizer.train(corpus: text)
        var o = options(); o.stopAt = stopAt
        let t = try Pretrainer(device: device, tokenizer: tok, tokens: try tok.encode(text), options: o, outDir: dir,
                               resume: resume, log: { _ in })
        return try t.run().losses
    }

    func check(_ device: Device, tolerance: Double) throws {
        let straight = try run(device, stopAt: nil, resume: false, dir: CLI.tempDir())
        let dir = CLI.tempDir()
        let first = try run(device, stopAt: 10, resume: false, dir: dir)
        let second = try run(device, stopAt: nil, resume: true, dir: dir)
        XCTAssertEqual(straight.count, 20)
        XCTAssertEqual(first.count, 10)
        XCTAssertEqual(second.count, 10)
        for (i, (a, b)) in zip(straight, first + second).enumerated() {
            if tolerance == 0 { XCTAssertEqual(a, b, "step \(i + 1) differs on \(device.backend)") }
            else { XCTAssertEqual(a, b, accuracy: tolerance, "step \(i + 1) on \(device.backend)") }
        }
        XCTAssertLessThan(straight.last!, straight.first!, "training should lower the loss")
    }

    func testResumeIsBitwiseOnCPU() throws { try check(CPUDevice(), tolerance: 0) }

    /// A run saved in the format pretraining used before every stage shared one
    /// (trainer_state.json + optimizer.safetensors, written here from a saved run's state)
    /// resumes to the straight run's losses, bit for bit, and its old files go at the next save.
    func testOlderPretrainingCheckpointsResume() throws {
        let device = CPUDevice()
        let straight = try run(device, stopAt: nil, resume: false, dir: CLI.tempDir())
        let dir = CLI.tempDir()
        let first = try run(device, stopAt: 10, resume: false, dir: dir)
        let state = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/stage_state.json"))) as? [String: Any])
        let (tensors, _) = try SafeTensors.read(path: dir + "/stage_state.safetensors")
        let optimizerStep = Int(try XCTUnwrap(tensors["adamw.step"]).values[0])
        try SafeTensors.write([tensors["adamw.m"]!, tensors["adamw.v"]!], metadata: ["step": "\(optimizerStep)", "trainer_step": "10"],
                              to: dir + "/optimizer.safetensors")
        let legacy: [String: Any] = ["step": 10, "optimizer_step": optimizerStep, "objective": "causal", "data_tokens": 20_000,
                                     "rng": state["rng"]!, "settings": state["settings"]!]
        try JSONSerialization.data(withJSONObject: legacy).write(to: URL(fileURLWithPath: dir + "/trainer_state.json"))
        for f in ["stage_state.json", "stage_state.safetensors"] { try FileManager.default.removeItem(atPath: dir + "/" + f) }
        let second = try run(device, stopAt: nil, resume: true, dir: dir)
        XCTAssertEqual(first + second, straight, "the older checkpoint resumed to other losses")
        for f in ["trainer_state.json", "optimizer.safetensors"] { XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/" + f), f) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/stage_state.json"))
    }
    func testResumeIsExactOnOpenCL() throws { try check(try TestDevices.openCL(), tolerance: 1e-6) }
}

