import XCTest
import Foundation
import FoundryCPU
import FoundryData
import FoundryPipeline

/// The whole pipeline at its `test` preset, on both backends: it must finish, write its report,
/// and the two backends must agree on the deterministic figures.
final class PipelineTests: XCTestCase {
    func report(_ backend: String, run: String = "") throws -> (json: [String: Any], dir: String) {
        let out = CLI.tempDir() + "/pipeline-\(backend)\(run)"
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
        // Training moved things: every stage's KL to SFT is a divergence (≥ 0; SFT's own is 0),
        // and SFT changed the pretraining validation loss.
        for report in [cpu, cl] {
            let st = report["stages"] as! [String: [String: Any]]
            for s in ["pretrained", "ppo", "dpo", "grpo"] {
                let kl = try XCTUnwrap(st[s]?["kl"] as? Double, s)
                XCTAssertGreaterThanOrEqual(kl, 0, "\(s): KL to SFT")
            }
            XCTAssertEqual(try XCTUnwrap(st["sft"]?["kl"] as? Double), 0, accuracy: 1e-9)
            XCTAssertGreaterThan(try XCTUnwrap(st["dpo"]?["kl"] as? Double), 0, "DPO at lr > 0 moves the policy")
            let f = report["forgetting"] as! [String: Double]
            XCTAssertGreaterThan(abs(f["val_loss_after"]! - f["val_loss_before"]!), 1e-3, "SFT should change the pretraining loss")
        }
        XCTAssertNotNil(cpu["seconds"] as? Double)
        // Deterministic figures agree across backends (float rounding only): the forgetting
        // losses within 1e-3, and the pretrained and SFT models' accuracies exactly.
        let fc = cpu["forgetting"] as! [String: Double], fo = cl["forgetting"] as! [String: Double]
        for k in ["val_loss_before", "val_loss_after", "val_loss_after_frozen", "val_loss_after_lora"] {
            XCTAssertEqual(try XCTUnwrap(fc[k], k), try XCTUnwrap(fo[k], k), accuracy: 1e-3, k)
        }
        // The forgetting comparison: LoRA trains a small share of what full SFT trains, and each
        // variant's held-out accuracy is there.
        XCTAssertLessThan(try XCTUnwrap(fc["trainable_lora"]), 0.5 * (try XCTUnwrap(fc["trainable"])))
        XCTAssertLessThan(try XCTUnwrap(fc["trainable_frozen"]), try XCTUnwrap(fc["trainable"]))
        for k in ["accuracy", "accuracy_frozen", "accuracy_lora"] { XCTAssertNotNil(fc[k], k) }
        let so = cl["stages"] as! [String: [String: Any]]
        for s in ["pretrained", "sft"] {
            XCTAssertEqual(stages[s]!["accuracy"] as! Double, so[s]!["accuracy"] as! Double, accuracy: 1e-9, s)
        }
        XCTAssertEqual((cpu["reward_model"] as! [String: Double])["pairwise_accuracy"]!,
                       (cl["reward_model"] as! [String: Double])["pairwise_accuracy"]!, accuracy: 0.2)

        // Same seed, same backend → the same report numbers, every one of them (a fresh output
        // directory, so nothing is reused).
        let (again, _) = try report("opencl", run: "-again")
        XCTAssertEqual(figures(cl), figures(again))
        XCTAssertFalse(figures(cl).isEmpty)
    }

    /// Every number of a report except timings, flattened to "section.stage.key" names.
    func figures(_ report: [String: Any]) -> [String: Double] {
        var out: [String: Double] = [:]
        func walk(_ value: Any, _ path: String) {
            if let d = value as? [String: Any] {
                for (k, v) in d { walk(v, path.isEmpty ? k : path + "." + k) }
            } else if let x = value as? Double {
                out[path] = x
            }
        }
        for key in ["stages", "reward_model", "forgetting"] { walk(report[key] as Any, key) }
        return out
    }

    /// Each stage's own command, on the test preset's task and checkpoints.
    func testStageCommands() throws {
        let (_, dir) = try report("cpu")
        let task = dir + "/task", tmp = CLI.tempDir()
        func ok(_ args: [String], _ expect: String) throws {
            let r = try CLI.run(args + ["--backend", "cpu"])
            XCTAssertEqual(r.status, 0, "\(args.first!): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains(expect), "\(args.first!): \(r.stdout)")
        }
        try ok(["sft", "--model", dir + "/pretrained", "--data", task + "/sft.jsonl", "--out", tmp + "/sft", "--epochs", "1", "--batch", "8",
                "--eval", task + "/eval.jsonl", "--pretrain-data", task + "/pretrain.txt", "--freeze-layers", "1"], "pretraining val loss")
        try ok(["reward", "--model", tmp + "/sft", "--data", task + "/prefs.jsonl", "--out", tmp + "/rm", "--epochs", "1"], "held-out: accuracy")
        try ok(["reward", "score", "--model", tmp + "/rm", "--prompt", "Which is larger: 2 or 4?", "--response", "4"], ".")
        try ok(["dpo", "--model", tmp + "/sft", "--data", task + "/prefs.jsonl", "--out", tmp + "/dpo", "--epochs", "1", "--loss", "ipo"], "saved")
        try ok(["grpo", "--model", tmp + "/sft", "--prompts", task + "/rl_prompts.jsonl", "--checker", "--steps", "1", "--out", tmp + "/grpo"], "saved")
        try ok(["ppo", "--model", tmp + "/sft", "--reward-model", tmp + "/rm", "--prompts", task + "/rl_prompts.jsonl", "--steps", "1",
                "--batch", "4", "--kl-estimator", "k3", "--out", tmp + "/ppo"], "objective/kl")
        try ok(["eval", "--model", tmp + "/ppo", "--task", task, "--reward-model", tmp + "/rm", "--reference", tmp + "/sft"], "KL to reference")
        try ok(["extract", "--model", tmp + "/sft", "--layers", "0..0", "--out", tmp + "/part"], "1 layers")
        // A model whose tokenizer has no chat tokens is refused with one line.
        let bad = try CLI.run(["sft", "--model", Fixtures.path("gpt2-tiny"), "--data", task + "/sft.jsonl", "--out", tmp + "/x", "--backend", "cpu"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
    }

    /// The pipeline as a library, in this process: the same report as the command's, read back
    /// through its Codable type.
    func testPipelineRunsInProcess() throws {
        let out = CLI.tempDir() + "/in-process"
        var lines: [String] = []
        try PipelineRun(out: out, preset: .named(.test), device: CPUDevice(), skipped: [.ppo, .grpo]) { lines.append($0) }.execute()
        let report = try PipelineReportFile.read(out + "/report.json")
        XCTAssertEqual(report.backend, "cpu")
        XCTAssertEqual(Set(report.stages.keys), ["pretrained", "sft", "dpo"])
        XCTAssertNotNil(report.stages["sft"]?["accuracy"] ?? nil)
        XCTAssertGreaterThan(try XCTUnwrap(report.stages["dpo"]?["kl"] ?? nil), 0)
        XCTAssertTrue(lines.contains { $0.hasPrefix("== sft") }, "progress goes to the log closure")
        let (cli, _) = try self.report("cpu")
        let sft = (cli["stages"] as! [String: [String: Any]])["sft"]!["accuracy"] as! Double
        XCTAssertEqual(report.stages["sft"]?["accuracy"] ?? nil, sft, "same seed, same backend: the command's figure")
    }

    /// `--rankings-from page`: a simulated person ranks through the page's HTTP calls; the file
    /// the page wrote trains with `foundry reward` as it is, and the report carries the page's
    /// stages beside the synthetic ones.
    func testRankingsFromThePage() throws {
        let out = CLI.tempDir() + "/pipeline-page"
        let r = try CLI.run(["pipeline", "--preset", "test", "--out", out, "--backend", "cpu", "--skip", "frozen,lora,grpo",
                             "--rankings-from", "page", "--page-rankings", "20"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("page: ranked 20 / 20"), r.stdout)
        let rows = try Datasets.readRankings(path: out + "/page/rankings.jsonl")
        XCTAssertEqual(rows.count, 20)
        XCTAssertTrue(rows.allSatisfy { (2...4).contains($0.responses.count) && Set($0.responses).count == $0.responses.count })
        let report = try PipelineReportFile.read(out + "/report.json")
        XCTAssertEqual(report.pageRankings?.ranked, 20)
        for s in ["ppo_page", "ppo", "dpo", "sft"] { XCTAssertNotNil(report.stages[s], s) }
        // The test preset's SFT model answers with noise, which the person ties: DPO on the page's
        // pairs runs only when some ranking put one response above another, and says so otherwise.
        XCTAssertTrue(report.stages["dpo_page"] != nil || r.stdout.contains("dpo (page rankings): skipped"), r.stdout)
        XCTAssertTrue(try String(contentsOfFile: out + "/report.md", encoding: .utf8).contains("## Rankings made on the page"))
        let train = try CLI.run(["reward", "--model", out + "/sft", "--data", out + "/page/rankings.jsonl", "--out", out + "/reward-again",
                                 "--backend", "cpu", "--max-steps", "2"])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("training rankings"), train.stdout)
        // 18 training rankings at batch 16: 2 steps an epoch, so the rankings' defaults take 20 epochs at 3e-4.
        XCTAssertTrue(train.stdout.contains("rankings train at lr 0.0003 for 20.0 epochs"), train.stdout)
        let bad = try CLI.run(["pipeline", "--preset", "test", "--out", out, "--rankings-from", "pages"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("synthetic") && bad.stderr.contains("page"), bad.stderr)
        let few = try CLI.run(["pipeline", "--preset", "test", "--out", out, "--rankings-from", "page", "--page-rankings", "5"])
        XCTAssertNotEqual(few.status, 0)
        XCTAssertTrue(few.stderr.contains("--page-rankings must be 10 or more"), few.stderr)
        let wide = try CLI.run(["pipeline", "--preset", "test", "--out", out, "--rankings-from", "page", "--rank-k", "12"])
        XCTAssertNotEqual(wide.status, 0)
        XCTAssertTrue(wide.stderr.contains("at most 9 responses"), wide.stderr)
    }
}
