import XCTest
import Foundation
import FoundryCheck
import FoundryOpenCL

/// Kernel parameters: parsing, the per-device tuned file, and that unusual tile shapes still
/// compute the reference's products (the tuner may pick any of them).
final class KernelTuningTests: XCTestCase {
    func testParseAndValidate() throws {
        let base = KernelParams.defaults(isCPU: true)
        let p = try KernelParams.parse("TM=3, vw=4,NV=2", base: base)
        XCTAssertEqual(p, KernelParams(gemmTM: 3, gemmVW: 4, gemmNV: 2))
        XCTAssertEqual(try KernelParams.parse(p.description, base: base), p, "description round-trips")
        XCTAssertEqual(try KernelParams.parse("", base: base), base)
        for bad in ["TM", "TM=x", "VW=3", "TM=0", "TM=17", "NV=5", "NV=0", "XX=2", "GT=2", "RG=4", "RG=16", "RG=48", "RG=512"] {
            XCTAssertThrowsError(try KernelParams.parse(bad, base: base), bad)
        }
    }

    /// An untuned device starts from what it reports: AVX-512 CPUs (PoCL's preferred float
    /// width 16) get float16 tiles, AVX2 float8, GPUs small tiles.
    func testDefaultsFollowTheReportedVectorWidth() throws {
        XCTAssertEqual(KernelParams.defaults(isCPU: true, preferredFloatWidth: 16), KernelParams(gemmTM: 6, gemmVW: 16, gemmNV: 4))
        XCTAssertEqual(KernelParams.defaults(isCPU: true, preferredFloatWidth: 8), KernelParams(gemmTM: 6, gemmVW: 8, gemmNV: 2))
        XCTAssertEqual(KernelParams.defaults(isCPU: true, preferredFloatWidth: 4), KernelParams(gemmTM: 6, gemmVW: 8, gemmNV: 2))
        XCTAssertEqual(KernelParams.defaults(isCPU: false, preferredFloatWidth: 1), KernelParams(gemmTM: 4, gemmVW: 4, gemmNV: 1))
        for p in [16, 8, 1] { XCTAssertNoThrow(try KernelParams.defaults(isCPU: true, preferredFloatWidth: p).validate()) }
        let cl = try TestDevices.openCL()
        XCTAssertGreaterThan(cl.info.preferredFloatWidth, 0)
        XCTAssertEqual(cl.info.defaultParams, KernelParams.defaults(isCPU: cl.info.isCPU, preferredFloatWidth: cl.info.preferredFloatWidth))
        let quick = KernelTuner.candidates(isCPU: cl.info.isCPU, quick: true, defaults: cl.info.defaultParams)
        XCTAssertEqual(quick.first, cl.info.defaultParams, "the quick tune starts from the device's defaults")
    }

    func testOddTileShapesMatchTheReference() throws {
        _ = try TestDevices.openCL()
        for params in ["TM=3,VW=4,NV=3", "TM=1,VW=2,NV=1", "TM=5,VW=16,NV=1", "TM=16,VW=4,NV=2", "TM=5,VW=8,NV=4", "GT=1,TM=1,RG=32"] {
            let r = try CLI.run(["kernels", "test", "--only", "gemm"], environment: ["FOUNDRY_KERNEL_PARAMS": params])
            XCTAssertEqual(r.status, 0, "\(params): \(r.stdout.suffix(600)) \(r.stderr)")
            XCTAssertTrue(r.stdout.contains(" passed, 0 failed"), params)
        }
        // Decoding's products read vectors of VW (float or half) with scalar tails: a narrow width.
        let decode = try CLI.run(["kernels", "test", "--only", "decode_product"], environment: ["FOUNDRY_KERNEL_PARAMS": "VW=4"])
        XCTAssertTrue(decode.status == 0 && decode.stdout.contains(" passed, 0 failed"), decode.stdout.suffix(600) + decode.stderr)
        let bad = try CLI.run(["kernels", "test", "--small"], environment: ["FOUNDRY_KERNEL_PARAMS": "VW=5"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertLessThan(bad.status, 128)
        XCTAssertTrue(bad.stderr.contains("FOUNDRY_KERNEL_PARAMS") && bad.stderr.contains("2, 4, 8 or 16"), bad.stderr)
    }

    func testTuneSavesShowsAndResets() throws {
        _ = try TestDevices.openCL()
        let env = ["FOUNDRY_CACHE_DIR": CLI.tempDir() + "/kernels"]
        let before = try CLI.run(["kernels", "tune", "--show"], environment: env)
        XCTAssertTrue(before.stdout.contains("not tuned"), before.stdout)
        let t = try CLI.run(["kernels", "tune", "--quick", "--reps", "1"], environment: env)
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertTrue(t.stdout.contains("best: TM=") && t.stdout.contains("GEMM parity cases pass"), t.stdout)
        let shown = try CLI.run(["kernels", "tune", "--show"], environment: env)
        XCTAssertTrue(shown.stdout.contains(": tuned TM="), shown.stdout)
        // The saved choice is the one a plain open uses.
        let line = t.stdout.split(separator: "\n").first { $0.hasPrefix("best: ") }!
        let chosen = line.dropFirst("best: ".count).prefix { $0 != " " }.trimmingCharacters(in: CharacterSet(charactersIn: ","))
        XCTAssertTrue(shown.stdout.contains(chosen), "\(chosen) vs \(shown.stdout)")
        let reset = try CLI.run(["kernels", "tune", "--reset"], environment: env)
        XCTAssertEqual(reset.status, 0)
        XCTAssertTrue(try CLI.run(["kernels", "tune", "--show"], environment: env).stdout.contains("not tuned"))
    }
}

/// `foundry bench --quick`: every section present in the JSON with plausible figures.
final class BenchCommandTests: XCTestCase {
    func testQuickBenchWritesEverySection() throws {
        _ = try TestDevices.openCL()
        let out = CLI.tempDir() + "/bench.json"
        let r = try CLI.run(["bench", "--quick", "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        for heading in ["## matmul", "## attention", "## training", "## generation", "time share of the top kernels"] {
            XCTAssertTrue(r.stdout.contains(heading), "missing \(heading): \(r.stdout)")
        }
        let j = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        XCTAssertNotNil(j["device"] as? String)
        let mm = try XCTUnwrap(j["matmul"] as? [[String: Any]])
        XCTAssertTrue(mm.contains { ($0["m"] as? Int) == 512 && ($0["n"] as? Int) == 512 })
        for row in mm {
            XCTAssertGreaterThan(row["foundry_gflops"] as? Double ?? 0, 0)
            XCTAssertGreaterThan(row["clblast_gflops"] as? Double ?? 0, 0, "CLBlast measured beside it")
        }
        let att = try XCTUnwrap(j["attention"] as? [[String: Any]])
        XCTAssertEqual(att.map { $0["t"] as? Int }, [64, 256])
        // The attention buffers hold T×T probabilities: 4× the length, ≥ 4× the memory.
        let b64 = try XCTUnwrap(att[0]["peak_bytes"] as? Int), b256 = try XCTUnwrap(att[1]["peak_bytes"] as? Int)
        XCTAssertGreaterThanOrEqual(b256, 4 * b64)
        let train = try XCTUnwrap(j["train"] as? [String: Any])
        XCTAssertGreaterThan(train["foundry_tokens_per_sec"] as? Double ?? 0, 0)
        let loss = try XCTUnwrap(train["val_loss"] as? Double)
        XCTAssertTrue(loss > 1 && loss < log(200.0), "a fresh model's validation loss is near log(vocab): \(loss)")
        XCTAssertTrue(train["pytorch_tokens_per_sec"] is NSNull, "no peer in this run")
        let shares = try XCTUnwrap(train["kernel_shares"] as? [String: Double])
        XCTAssertEqual(shares.values.reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertNotNil(shares["gemm_nn"])
        let gen = try XCTUnwrap((j["generate"] as? [String: Any])?["runs"] as? [[String: Any]])
        // Greedy and top-p at each shape, and from half weights too at the 32000-token vocabulary.
        XCTAssertEqual(gen.map { $0["model"] as? String }, ["4L-128", "4L-128", "6L-288", "6L-288"] + Array(repeating: "stories15M", count: 4))
        XCTAssertEqual(gen.map { $0["weights"] as? String }, Array(repeating: "f32", count: 6) + ["f16", "f16"])
        XCTAssertEqual(gen.last?["vocab"] as? Int, 32000)
        XCTAssertTrue(gen.allSatisfy { ($0["first_token_ms"] as? Double ?? 0) > 0 }, "time to first token")
        // A decode step: a few launches per layer, and one host read (the picked token).
        for row in gen {
            let layers = row["layers"] as? Int ?? 0, launches = row["launches_per_token"] as? Double ?? 0
            XCTAssertTrue(launches > Double(layers) && launches < Double(16 * layers + 16), "\(row)")
            XCTAssertEqual(row["reads_per_token"] as? Double ?? 0, 1, accuracy: 0.05, "\(row)")
        }
        XCTAssertTrue(gen.allSatisfy { ($0["foundry_tokens_per_sec"] as? Double ?? 0) > 0 })
    }
}
