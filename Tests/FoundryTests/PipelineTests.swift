import XCTest
import Foundation

/// The whole pipeline at its `test` preset, on both backends: it must finish, write its report,
/// and the two backends must agree on the deterministic figures.
final class PipelineTests: XCTestCase {
    func report(_ backend: String) throws -> (json: [String: Any], dir: String) {
        let out = CLI.tempDir() + "/pipeline-\(backend)"
        let r = try CLI.run(["pipeline", "--preset", "test", "--out", out, "--backend", backend])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("== sft") && r.stdout.contains("== ppo") && r.stdout.contains("== grpo"), r.stdout)
        for f in ["report.md", "report.json", "loss.png", "accuracy.png", "ppo.png", "sft/model.safetensors", "reward/model.safetensors",
                  "ppo/model.safetensors", "dpo/model.safetensors", "grpo/model.safetensors", "task/eval.jsonl"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + f), "\(backend): missing \(f)")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))
        return (try JSONSerialization.jsonObject(with: data) as! [String: Any], out)
    }

    func testPipelineRunsOnBothBackendsAndAgrees() throws {
        _ = try TestDevices.openCL()
        let (cpu, _) = try report("cpu")
        let (cl, _) = try report("opencl")
        // Shape of report.json.
        let stages = try XCTUnwrap(cpu["stages"] as? [String: [String: Any]])
        for s in ["pretrained", "sft", "ppo", "dpo", "grpo"] {
            XCTAssertNotNil(stages[s]?["accuracy"] as? Double, "stages.\(s).accuracy")
            XCTAssertNotNil(stages[s]?["kl"], "stages.\(s).kl")
        }
        XCTAssertNotNil((cpu["reward_model"] as? [String: Any])?["pairwise_accuracy"] as? Double)
        XCTAssertNotNil(cpu["seconds"] as? Double)
        // Deterministic figures agree across backends (float rounding only): the forgetting
        // losses within 1e-3, and the pretrained and SFT models' accuracies exactly.
        let fc = cpu["forgetting"] as! [String: Double], fo = cl["forgetting"] as! [String: Double]
        for k in ["val_loss_before", "val_loss_after", "val_loss_after_frozen"] {
            XCTAssertEqual(fc[k]!, fo[k]!, accuracy: 1e-3, k)
        }
        let so = cl["stages"] as! [String: [String: Any]]
        for s in ["pretrained", "sft"] {
            XCTAssertEqual(stages[s]!["accuracy"] as! Double, so[s]!["accuracy"] as! Double, accuracy: 1e-9, s)
        }
        XCTAssertEqual((cpu["reward_model"] as! [String: Double])["pairwise_accuracy"]!,
                       (cl["reward_model"] as! [String: Double])["pairwise_accuracy"]!, accuracy: 0.2)
    }
}
