import XCTest
import Foundation
import FoundryCore
import FoundryFiles
import FoundryCPU
import FoundryModel

/// Foundry against PyTorch + transformers (fixtures from Tools/make_fixtures.py, computed in
/// float64): logits, loss, every gradient and a 10-step AdamW trajectory (losses and final weights), on both backends,
/// through the same `foundry forward` / `foundry overfit` commands a user runs.
final class ReferenceParityTests: XCTestCase {
    let model = Fixtures.path("gpt2-tiny")
    var tokens: String { (model as NSString).appendingPathComponent("tokens.json") }

    func expected() throws -> [String: NamedTensor] {
        try SafeTensors.read(path: (model as NSString).appendingPathComponent("expected.safetensors")).tensors
    }

    func testForwardAndGradientsMatchTransformers() throws {
        let want = try expected()
        for backend in ["cpu", "opencl"] {
            if backend == "opencl" { _ = try TestDevices.openCL() }
            let out = CLI.tempDir() + "/out.safetensors"
            let r = try CLI.run(["forward", "--model", model, "--tokens", tokens, "--out", out, "--grads", "--backend", backend])
            XCTAssertEqual(r.status, 0, r.stderr)
            let got = try SafeTensors.read(path: out).tensors
            let logits = try XCTUnwrap(got["logits"]), wantLogits = try XCTUnwrap(want["logits"])
            XCTAssertEqual(logits.shape, [3, 11, 53])
            let logitErr = zip(logits.values, wantLogits.values).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(logitErr, 1e-4, "\(backend) logits")
            XCTAssertEqual(Double(got["loss"]!.values[0]), Double(want["loss"]!.values[0]), accuracy: 1e-5, "\(backend) loss")
            var checked = 0
            for (name, w) in want where name.hasPrefix("grad.") {
                let g = try XCTUnwrap(got[name], "\(backend) lacks \(name)")
                XCTAssertEqual(g.shape, w.shape, name)
                // Relative to the tensor's scale: some LayerNorm gradients are ~1e-4 in size.
                let scale = max(w.values.map(abs).max()!, 1e-8)
                let err = zip(g.values, w.values).map { abs($0 - $1) }.max()! / scale
                XCTAssertLessThan(err, 1e-3, "\(backend) \(name)")
                checked += 1
            }
            XCTAssertEqual(checked, 28)
        }
    }

    func testTenStepTrajectoryMatchesTorchAdamW() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: (model as NSString).appendingPathComponent("trajectory.json")))
        let traj = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let want = traj["losses"] as! [Double]
        for backend in ["cpu", "opencl"] {
            if backend == "opencl" { _ = try TestDevices.openCL() }
            let r = try CLI.run(["overfit", "--model", model, "--tokens", tokens, "--steps", "10", "--lr", "\(traj["lr"]!)",
                                 "--weight-decay", "\(traj["weight_decay"]!)", "--backend", backend])
            XCTAssertEqual(r.status, 0, r.stderr)
            let lines = r.stdout.split(separator: "\n")
            XCTAssertEqual(lines.count, 10)
            for (i, line) in lines.enumerated() {
                let j = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                XCTAssertEqual(j["step"] as? Int, i)
                XCTAssertEqual(j["loss"] as! Double, want[i], accuracy: 1e-3, "\(backend) step \(i)")
            }
        }
    }

    /// The weights after those 10 steps, tensor by tensor. At the fixture's weight decay (0.5,
    /// lr 1e-3) decay moves a LayerNorm weight of 1 by 5e-3 over the run, 50× the tolerance, where
    /// the losses barely feel it: leaving decay out (or decaying only the matrices, or decaying
    /// after the Adam step instead of before it) fails here.
    func testTenStepWeightsMatchTorchAdamW() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: (model as NSString).appendingPathComponent("trajectory.json")))
        let traj = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let want = try SafeTensors.read(path: (model as NSString).appendingPathComponent("trajectory_final.safetensors")).tensors
        let start = try SafeTensors.read(path: (model as NSString).appendingPathComponent("model.safetensors")).tensors
        for backend in ["cpu", "opencl"] {
            if backend == "opencl" { _ = try TestDevices.openCL() }
            let dir = CLI.tempDir()
            let r = try CLI.run(["overfit", "--model", model, "--tokens", tokens, "--steps", "10", "--lr", "\(traj["lr"]!)",
                                 "--weight-decay", "\(traj["weight_decay"]!)", "--out", dir, "--backend", backend])
            XCTAssertEqual(r.status, 0, r.stderr)
            let got = try SafeTensors.read(path: dir + "/model.safetensors").tensors
            XCTAssertEqual(Set(got.keys), Set(want.keys))
            var moved = 0.0
            for (name, w) in want {
                let g = try XCTUnwrap(got[name], name)
                XCTAssertEqual(g.shape, w.shape, name)
                let err = zip(g.values, w.values).map { abs(Double($0) - Double($1)) }.max()!
                XCTAssertLessThan(err, 1e-4, "\(backend) \(name)")
                moved = max(moved, zip(w.values, start[name]!.values).map { abs(Double($0) - Double($1)) }.max()!)
            }
            XCTAssertGreaterThan(moved, 5e-3, "the fixture's weights should have moved")
        }
    }

    /// Foundry's own save → load is lossless and keeps Hugging Face's names and layout.
    func testCheckpointRoundTrip() throws {
        let dev = CPUDevice()
        let m = try Checkpoint.load(model, device: dev)
        let dir = CLI.tempDir()
        try Checkpoint.save(m, tokenizer: nil, to: dir)
        let a = try SafeTensors.read(path: (model as NSString).appendingPathComponent("model.safetensors")).tensors
        let b = try SafeTensors.read(path: dir + "/model.safetensors").tensors
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for (k, t) in a { XCTAssertEqual(t.values, b[k]!.values, k); XCTAssertEqual(t.shape, b[k]!.shape, k) }
        XCTAssertEqual(try Checkpoint.readConfig(dir), m.config)
    }
}

