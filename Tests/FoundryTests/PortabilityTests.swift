import Foundation
import XCTest
import FoundryCheck
import FoundryCore
import FoundryCPU
import FoundryModel
import FoundryOpenCL

/// What works on PoCL but breaks on other OpenCL implementations (NVIDIA, AMD ROCm, Intel),
/// checked here without those devices.
final class PortabilityTests: XCTestCase {
    /// Plain `inline` helpers are C99 inline-only definitions: a compiler that does not inline
    /// them (ROCm; any at -O0) finds no definition at link time. Compiled at -O0 for a neutral
    /// target (SPIR), every function the program calls must be a builtin (mangled `_Z…`) or
    /// defined in it; and the strict front end must have nothing to say.
    func testKernelSourceIsStrictPortableOpenCLC() throws {
        let clang = try Self.clang()
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let src = (dir as NSString).appendingPathComponent("foundry.cl")
        try OpenCLDevice.source.write(toFile: src, atomically: true, encoding: .utf8)
        for params in [KernelParams.defaults(isCPU: true), KernelParams.defaults(isCPU: false),
                       KernelParams(gemmTM: 1, gemmVW: 2, gemmNV: 1), KernelParams(gemmTM: 16, gemmVW: 16, gemmNV: 2)] {
            let ll = (dir as NSString).appendingPathComponent("foundry.ll")
            let r = try CLI.output(of: clang, ["-target", "spir64", "-x", "cl", "-cl-std=CL1.2", "-Xclang", "-finclude-default-header",
                                         "-O0", "-emit-llvm", "-S", "-Wall", "-Wextra", "-pedantic",
                                         "-DGEMM_TM=\(params.gemmTM)", "-DGEMM_VW=\(params.gemmVW)", "-DGEMM_NV=\(params.gemmNV)",
                                         "-o", ll, src])
            XCTAssertEqual(r.status, 0, "\(params): \(r.output)")
            XCTAssertFalse(r.output.contains("warning"), "\(params): \(r.output)")
            let ir = try String(contentsOfFile: ll, encoding: .utf8)
            let undefined = ir.split(separator: "\n").filter { $0.hasPrefix("declare") && !$0.contains("@_Z") && !$0.contains("@llvm.") }
            XCTAssertEqual(undefined, [], "\(params): functions called but not defined (make them `static inline`)")
        }
    }

    /// A tensor's offset into its buffer is 64-bit in every kernel: activations of GPT-2 124M
    /// at B·T ≥ ~10k live past element 2^31 of their arena.
    func testEveryKernelOffsetIs64Bit() throws {
        let narrow = OpenCLDevice.source.split(separator: "\n").filter {
            $0.range(of: #"\bint [A-Za-z0-9_]+_off\b"#, options: .regularExpression) != nil
        }
        XCTAssertEqual(narrow, [], "offsets must be `long`")
    }

    /// The suite with optimisation off (no inlining to hide a missing definition) and fixed
    /// work-groups of 64 (global sizes rounded up past every awkward shape, as on a GPU).
    func testKernelsUnoptimisedInFixedGroups() throws {
        _ = try TestDevices.openCL()
        let cl = try OpenCLDevice(extraBuildOptions: "-cl-opt-disable", workGroups: .fixed(64))
        XCTAssertTrue(cl.buildOptions.contains("-cl-opt-disable"))
        let results = try KernelSuite.run(reference: CPUDevice(), candidate: cl)
        XCTAssertGreaterThan(results.count, 200)
        for r in results where !r.passed { XCTFail("\(r.kernel) \(r.shape): error \(r.maxError) > \(r.tolerance)") }
    }

    /// Division and square root are correctly rounded wherever the device can do it (NVIDIA's
    /// default division is 2.5 ulp off, and the suite matches repetition_penalty exactly).
    func testCorrectlyRoundedDivisionWhereOffered() throws {
        let cl = try TestDevices.openCL()
        XCTAssertEqual(cl.buildOptions.contains("-cl-fp32-correctly-rounded-divide-sqrt"), cl.info.correctlyRoundedDivideSqrt)
        let plain = OpenCLDevice.buildOptions(params: cl.params, device: cl.info)
        XCTAssertTrue(plain.hasPrefix("-cl-std=CL1.2 -DGEMM_TM=\(cl.params.gemmTM) "), plain)
    }

    func testLaunchGeometryRoundsUpToPowerOfTwoGroups() {
        // GPT-2's vocabulary: 50257 = 29 · 1733 would leave a driver groups of 29 or 1.
        expect(LaunchGeometry(global: [50257], groupLimit: 1024, target: 64), global: [50304], local: [64])
        expect(LaunchGeometry(global: [1], groupLimit: 1024, target: 64), global: [1], local: [1])
        expect(LaunchGeometry(global: [100], groupLimit: 48, target: 64), global: [128], local: [32])
        // A narrow first dimension gives its share of the group to the second (decode: tq 1).
        expect(LaunchGeometry(global: [1, 12], groupLimit: 1024, target: 64), global: [1, 16], local: [1, 16])
        expect(LaunchGeometry(global: [32, 86], groupLimit: 1024, target: 64), global: [32, 86], local: [32, 2])
        expect(LaunchGeometry(global: [200, 3], groupLimit: 256, target: 64), global: [256, 3], local: [64, 1])
        for n in [1, 2, 3, 7, 63, 64, 65, 1000, 50257] {
            for t in [1, 16, 64, 256] {
                let g = LaunchGeometry(global: [n, n % 5 + 1], groupLimit: 1024, target: t)
                XCTAssertTrue(g.local.reduce(1, *) <= t && g.local.allSatisfy { $0 & ($0 - 1) == 0 }, "\(n) \(t): \(g)")
                XCTAssertTrue(zip(g.global, g.local).allSatisfy { $0 % $1 == 0 }, "\(n) \(t): \(g)")
                XCTAssertTrue(g.global[0] >= n && g.global[0] < n + g.local[0], "\(n) \(t): \(g)")
            }
        }
    }

    /// The GEMM's CPU panels: never one group for the whole product (PoCL's choice for a
    /// 128 × 384 weight gradient), PoCL's own 8 × 342 split kept for 2048³, every panel within
    /// its cache budget and the kernel's group limit, the grid covered.
    func testCPUPanelsGiveEveryCoreWork() {
        expect(LaunchGeometry.cpuPanels(grid: [22, 12], stripBytes: 6 * 768 * 4, computeUnits: 2, groupLimit: 4096),
               global: [32, 12], local: [16, 3])
        expect(LaunchGeometry.cpuPanels(grid: [64, 342], stripBytes: 32 * 2048 * 4, computeUnits: 2, groupLimit: 4096),
               global: [64, 342], local: [2, 342])
        for grid in [[1, 1], [3, 7], [9, 1], [22, 12], [64, 342], [1000, 5], [5, 1000]] {
            for strip in [64, 4096, 1 << 20] {
                for (units, limit) in [(2, 4096), (16, 256), (64, 1024)] {
                    let g = LaunchGeometry.cpuPanels(grid: grid, stripBytes: strip, computeUnits: units, groupLimit: limit)
                    let label = "\(grid) \(strip) \(units) \(limit): \(g)"
                    XCTAssertLessThanOrEqual(g.local.reduce(1, *), limit, label)
                    XCTAssertTrue(g.local[0] == 1 || g.local[0] * strip <= 512 << 10, label)
                    XCTAssertTrue(zip(g.global, g.local).allSatisfy { $0 % $1 == 0 }, label)
                    XCTAssertTrue(zip(g.global, grid).allSatisfy { $0 >= $1 }, label)
                    let groups = g.global[0] / g.local[0] * (g.global[1] / g.local[1])
                    XCTAssertGreaterThanOrEqual(groups, min(4 * units, grid[1] * ((grid[0] + g.local[0] - 1) / g.local[0])), label)
                }
            }
        }
    }

    /// `kernels tune --quick` on a GPU tries GPU-shaped tiles around the default, not the
    /// first few of the full list (which all share one vector width).
    func testQuickTuneSpreadsOverGPUShapedTiles() {
        for isCPU in [false, true] {
            let quick = KernelTuner.candidates(isCPU: isCPU, quick: true), all = KernelTuner.candidates(isCPU: isCPU, quick: false)
            XCTAssertEqual(quick.first, KernelParams.defaults(isCPU: isCPU))
            XCTAssertEqual(Set(quick.map(\.description)).count, quick.count)
            XCTAssertTrue(quick.allSatisfy(all.contains) && quick.count >= 5 && quick.count < all.count)
            XCTAssertGreaterThan(Set(quick.map(\.gemmVW)).count, 1, "more than one vector width")
            XCTAssertGreaterThan(Set(quick.map(\.gemmTM)).count, 2, "several tile heights")
        }
        XCTAssertTrue(KernelTuner.candidates(isCPU: false, quick: true).allSatisfy { $0.gemmTM * $0.gemmVW * $0.gemmNV <= 32 })
        XCTAssertTrue(KernelTuner.candidates(isCPU: false, quick: true).contains { $0.gemmTiled }, "GPUs try the tiled GEMM")
        XCTAssertFalse(KernelTuner.candidates(isCPU: true, quick: false).contains { $0.gemmTiled })
    }

    func testWorkGroupPolicyParsing() {
        XCTAssertEqual(WorkGroupPolicy("runtime"), .runtime)
        XCTAssertEqual(WorkGroupPolicy("128"), .fixed(128))
        XCTAssertNil(WorkGroupPolicy("0"))
        XCTAssertNil(WorkGroupPolicy("4096"))
        XCTAssertNil(WorkGroupPolicy("big"))
        XCTAssertEqual(WorkGroupPolicy.defaults(isCPU: true), .runtime)
        XCTAssertEqual(WorkGroupPolicy.defaults(isCPU: false), .fixed(64))
    }

    /// A bad $FOUNDRY_WORKGROUP stops the command with one line naming it and the accepted values.
    func testBadWorkGroupVariableIsOneClearError() throws {
        _ = try TestDevices.openCL()
        for bad in ["abc", "0", "4096"] {
            let r = try CLI.run(["kernels", "test", "--small"], environment: ["FOUNDRY_WORKGROUP": bad])
            XCTAssertNotEqual(r.status, 0, bad)
            XCTAssertLessThan(r.status, 128, "crashed: \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("FOUNDRY_WORKGROUP=\(bad)") && r.stderr.contains("runtime") && r.stderr.contains("1 to 1024"), r.stderr)
        }
    }

    /// A machine with PoCL (or rusticl) listed before its GPU still trains on the GPU.
    func testTheDefaultDeviceIsTheFirstGPU() {
        XCTAssertEqual(OpenCLPlatforms.preferredIndex(["CPU", "GPU", "GPU"]), 1)
        XCTAssertEqual(OpenCLPlatforms.preferredIndex(["CPU", "accelerator", "GPU"]), 2)
        XCTAssertEqual(OpenCLPlatforms.preferredIndex(["CPU", "accelerator"]), 1)
        XCTAssertEqual(OpenCLPlatforms.preferredIndex(["CPU"]), 0)
    }

    /// A batch whose logits pass 2^31 elements is refused before anything is allocated, with
    /// the fix named, instead of trapping in a 32-bit conversion.
    func testTensorsPastTheIndexLimitAreRefused() throws {
        let cl = try TestDevices.openCL()
        let model = try GPT2(config: GPT2Config(vocabSize: 50257, maxSeq: 1024, channels: 8, layers: 1, heads: 2), device: cl)
        let before = cl.memory.liveBytes
        XCTAssertThrowsError(try model.forward(tokens: [Int32](repeating: 0, count: 42 * 1024), batch: 42, seq: 1024)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("2147483647") && text.contains("--batch"), text)
        }
        XCTAssertEqual(cl.memory.liveBytes, before, "nothing allocated")
        // The reference has no such limit; 41 × 1024 rows fit.
        XCTAssertEqual(CPUDevice().maxTensorElements, Int.max)
        XCTAssertLessThan(41 * 1024 * 50257, cl.maxTensorElements)
    }

    // MARK: helpers

    /// clang with an OpenCL front end: $FOUNDRY_CLANG, else the one beside `swift` (every
    /// Swift toolchain ships it), else the PATH's.
    static func clang() throws -> String {
        let env = ProcessInfo.processInfo.environment
        if let c = env["FOUNDRY_CLANG"], !c.isEmpty { return c }
        for dir in (env["PATH"] ?? "").split(separator: ":") {
            let swift = "\(dir)/swift", clang = "\(dir)/clang"
            if FileManager.default.isExecutableFile(atPath: swift), FileManager.default.isExecutableFile(atPath: clang) { return clang }
        }
        for dir in (env["PATH"] ?? "").split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(dir)/clang") {
            return "\(dir)/clang"
        }
        throw XCTSkip("no clang found (set FOUNDRY_CLANG)")
    }

}

private func expect(_ g: LaunchGeometry, global: [Int], local: [Int], file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(g.global, global, "global", file: file, line: line)
    XCTAssertEqual(g.local, local, "local", file: file, line: line)
}
