import XCTest
import FoundryData
import FoundryCore
import FoundryFiles
import FoundryCPU
import FoundryModel
@testable import FoundryTrain

/// LoRA: the merged weights are W0 + (alpha/rank)·A·B, the adapters' gradients match finite
/// differences of the loss on both backends, only the adapted matrices move in training, the
/// adapter files round-trip in PEFT's layout, and a stopped LoRA run resumes exactly.
final class LoRATests: XCTestCase {
    func model(on d: Device, seed: UInt64 = 4) throws -> GPT2 {
        let m = try GPT2(config: GPT2Config(vocabSize: 11, maxSeq: 8, channels: 8, layers: 2, heads: 2), device: d)
        try m.initialise(seed: seed)
        return m
    }

    func options(rank: Int = 2, alpha: Float? = 3, targets: [LoRATarget] = LoRATarget.allCases) -> LoRAOptions {
        var o = LoRAOptions(); o.rank = rank; o.alpha = alpha; o.targets = targets
        return o
    }

    /// Random A and B (B is zero at the start, which would hide half of the products).
    func randomise(_ lora: LoRAAdapter, seed: UInt64) throws {
        var rng = RNG(seed: seed)
        try lora.model.device.write((0..<lora.params.count).map { _ in Float(rng.normal() * 0.3) }, to: lora.params)
        lora.materialize()
    }

    func testMergedWeightsAreBasePlusScaledProduct() throws {
        for d in try TestDevices.all() {
            let m = try model(on: d)
            let base = try d.read(m.params)
            let lora = try LoRAAdapter(model: m, options: options(targets: [.mlp]), seed: 1)
            XCTAssertEqual(try d.read(m.params), base, "B starts at zero: the merged model is the base model")
            XCTAssertEqual(lora.sites.count, 4, "c_fc and mlp.c_proj in each of 2 blocks")
            XCTAssertEqual(lora.parameterCount, 2 * 2 * ((8 + 32) + (32 + 8)))
            try randomise(lora, seed: 7)
            let merged = try d.read(m.params), ab = try d.read(lora.params)
            let r = 2, s: Float = 1.5
            for site in lora.sites {
                let e = m.layout.entry("\(site.name).weight")!
                for i in 0..<site.inputs { for j in 0..<site.outputs {
                    var dot: Float = 0
                    for k in 0..<r { dot += ab[site.aOffset + i * r + k] * ab[site.bOffset + k * site.outputs + j] }
                    XCTAssertEqual(merged[e.offset + i * site.outputs + j], base[e.offset + i * site.outputs + j] + s * dot, accuracy: 1e-5)
                } }
            }
            // Everything not adapted is untouched.
            for e in m.layout.entries where !e.name.contains("mlp.c_fc.weight") && !e.name.contains("mlp.c_proj.weight") {
                XCTAssertEqual(Array(merged[e.offset..<e.offset + e.count]), Array(base[e.offset..<e.offset + e.count]), e.name)
            }
        }
    }

    /// dL/dA and dL/dB from the merged weight's gradient against central differences of the
    /// loss in A and B, both backends.
    func testAdapterGradientsMatchFiniteDifferences() throws {
        for d in try TestDevices.all() {
            let m = try model(on: d)
            let lora = try LoRAAdapter(model: m, options: options(), seed: 1)
            try randomise(lora, seed: 9)
            let tokens: [Int32] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 3]
            let targets: [Int32] = [2, 3, 4, 5, 6, 7, -1, 9, 10, 1, 3, 4]
            let valid = targets.filter { $0 >= 0 }.count
            func loss() throws -> Double {
                lora.materialize()
                try m.forward(tokens: tokens, batch: 2, seq: 6)
                return try m.loss(targets: targets).0
            }
            lora.materialize()
            m.zeroGrad()
            try m.forward(tokens: tokens, batch: 2, seq: 6)
            try m.computeLoss(targets: targets, gradScale: 1 / Float(valid))
            try m.backward()
            lora.projectGradients()
            let analytic = try d.read(lora.grads)
            var p = try d.read(lora.params)
            var rng = RNG(seed: 12)
            let largest = analytic.map { abs($0) }.max()!
            XCTAssertGreaterThan(largest, 1e-3, "the gradients are not all zero")
            for _ in 0..<40 {
                let i = rng.below(p.count)
                let numeric = try centralDifference(&p, at: i, h: 2e-3, write: { try d.write($0, to: lora.params) }, loss: loss)
                XCTAssertEqual(Double(analytic[i]), numeric, accuracy: 0.01 * Double(largest), "\(d.name): adapter parameter \(i)")
            }
        }
    }

    let examples = [TokenizedExample(tokens: [1, 2, 3, 4, 5], lossMask: [false, false, true, true, true]),
                    TokenizedExample(tokens: [6, 7, 8, 1], lossMask: [false, true, true, true]),
                    TokenizedExample(tokens: [2, 2, 5, 6, 7, 8], lossMask: [false, false, false, true, true, true])]

    func sft(_ m: GPT2, lora: LoRAOptions, steps: Int = 12) -> SFTOptions {
        var o = SFTOptions(); o.lr = 3e-2; o.epochs = Double(steps); o.batch = 3; o.warmup = 1; o.logEvery = 1; o.lora = lora
        return o
    }

    func quietLog() throws -> StageLog { try StageLog(metricsPath: nil) { _ in } }

    /// A LoRA SFT lowers the loss while every parameter outside the adapted matrices keeps its
    /// value to the bit; attn-only adapters leave the MLP matrices alone too.
    func testTrainingMovesOnlyAdaptedMatrices() throws {
        for d in try TestDevices.all() {
            let m = try model(on: d)
            let before = try d.read(m.params)
            var o = sft(m, lora: options(rank: 4, alpha: nil, targets: [.attn]), steps: 30); o.lr = 0.01
            let trainer = try SFTTrainer(model: m, examples: examples, options: o, pad: 0)
            let losses = try trainer.run(log: try quietLog())
            XCTAssertLessThan(losses.last!, losses.first! - 0.05, "\(d.name): LoRA SFT lowers the loss \(losses)")
            let after = try d.read(m.params)
            for e in m.layout.entries {
                let same = Array(after[e.offset..<e.offset + e.count]) == Array(before[e.offset..<e.offset + e.count])
                let adapted = e.name.hasSuffix("attn.c_attn.weight") || e.name.hasSuffix("attn.c_proj.weight")
                XCTAssertEqual(same, !adapted, "\(d.name): \(e.name) \(adapted ? "should move" : "should stay")")
            }
            XCTAssertEqual(trainer.updater.trainableCount, 2 * 4 * ((8 + 24) + (8 + 8)))
        }
    }

    /// The adapter written in PEFT's layout (lora_A [r, in], lora_B [out, r], the config's
    /// r and lora_alpha) loads back into the same A and B, and is refused at another rank or alpha.
    func testAdapterFilesRoundTrip() throws {
        let d = CPUDevice()
        let m = try model(on: d)
        let lora = try LoRAAdapter(model: m, options: options(), seed: 1)
        try randomise(lora, seed: 5)
        let dir = CLI.tempDir()
        var files = FileSet()
        try lora.addAdapterFiles(to: &files, baseModel: "/base/model")
        try files.commit(to: dir)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter/adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(config["peft_type"] as? String, "LORA")
        XCTAssertEqual(config["r"] as? Int, 2)
        XCTAssertEqual(config["lora_alpha"] as? Double, 3)
        XCTAssertEqual(config["fan_in_fan_out"] as? Bool, true)
        XCTAssertEqual(config["base_model_name_or_path"] as? String, "/base/model")
        XCTAssertEqual(Set(config["target_modules"] as? [String] ?? []), ["c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"])
        let (tensors, _) = try SafeTensors.read(path: dir + "/adapter/adapter_model.safetensors")
        let a = try XCTUnwrap(tensors["base_model.model.transformer.h.1.attn.c_attn.lora_A.weight"])
        let b = try XCTUnwrap(tensors["base_model.model.transformer.h.1.attn.c_attn.lora_B.weight"])
        XCTAssertEqual(a.shape, [2, 8]); XCTAssertEqual(b.shape, [24, 2])
        // lora_A[k][i] is A[i][k].
        let site = lora.sites.first { $0.name == "h.1.attn.c_attn" }!
        let values = try d.read(lora.params)
        XCTAssertEqual(a.values[1 * 8 + 5], values[site.aOffset + 5 * 2 + 1])
        XCTAssertEqual(b.values[7 * 2 + 1], values[site.bOffset + 1 * 24 + 7])

        var o = options(); o.initFrom = dir + "/adapter"
        let again = try LoRAAdapter(model: try model(on: d), options: o, seed: 99)
        XCTAssertEqual(try d.read(again.params), values)
        XCTAssertEqual(try d.read(again.model.params), try d.read(m.params), "the same merged model")
        var wrongRank = options(rank: 3); wrongRank.initFrom = dir + "/adapter"
        XCTAssertThrowsError(try LoRAAdapter(model: try model(on: d), options: wrongRank, seed: 1)) {
            XCTAssertTrue("\($0)".contains("--lora-rank 2"), "\($0)")
        }
        var wrongAlpha = options(alpha: 4); wrongAlpha.initFrom = dir + "/adapter"
        XCTAssertThrowsError(try LoRAAdapter(model: try model(on: d), options: wrongAlpha, seed: 1)) {
            XCTAssertTrue("\($0)".contains("--lora-alpha 3"), "\($0)")
        }
    }

    /// Stopped after step 3 and resumed on the base model with the saved adapters: the same
    /// losses as straight through, to the bit (CPU).
    func testStoppedRunResumes() throws {
        let d = CPUDevice()
        func run(_ m: GPT2, stopAfter stop: Int?, dir: String, resume: Bool) throws -> [Double] {
            let log = try StageLog(metricsPath: nil) { line in
                if let stop, line.contains(" step \(String(format: "%4d", stop))/") { Interrupt.request() }
            }
            let ck = StageCheckpoint(dir: dir, saveEvery: 0, tokenizer: nil, baseModel: "base")
            return try SFTTrainer(model: m, examples: examples, options: sft(m, lora: options(), steps: 8), pad: 0)
                .run(log: log, checkpoint: ck, resume: resume)
        }
        let straight = try run(try model(on: d), stopAfter: nil, dir: CLI.tempDir(), resume: false)
        let dir = CLI.tempDir()
        let first = try run(try model(on: d), stopAfter: 3, dir: dir, resume: false)
        XCTAssertEqual(first.count, 3)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/adapter/adapter_model.safetensors"))
        let second = try run(try model(on: d), stopAfter: nil, dir: dir, resume: true)
        XCTAssertEqual(first + second, straight)
    }

    func testOptionMistakes() throws {
        var o = SFTOptions(); o.lora.rank = -1
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("--lora-rank")) }
        o.lora.rank = 4; o.freezeLayers = 1
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("drop --freeze-layers")) }
        o.freezeLayers = 0; o.lora.alpha = 0
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("--lora-alpha")) }
        XCTAssertThrowsError(try LoRAAdapter(model: try model(on: CPUDevice()), options: options(rank: 9), seed: 1)) {
            XCTAssertTrue("\($0)".contains("larger than"), "\($0)")
        }
        var missing = options(); missing.initFrom = CLI.tempDir() + "/no-adapter"
        XCTAssertThrowsError(try LoRAAdapter(model: try model(on: CPUDevice()), options: missing, seed: 1)) {
            XCTAssertTrue("\($0)".contains("is not a LoRA adapter: it has no adapter_config.json"), "\($0)")
        }
    }
}
