import ArgumentParser
import Foundation
import FoundryCheck
import FoundryCore
import FoundryCPU

struct Kernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check and measure the compute kernels on a device.",
        subcommands: [KernelsTest.self, KernelsBench.self, KernelsTune.self])
}

struct KernelsTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run every kernel against the CPU reference at awkward sizes and print a parity table.",
        discussion: "This is how to check a new GPU: no Swift toolchain needed, only the foundry binary and an OpenCL driver.")

    @OptionGroup var deviceOptions: DeviceOptions
    @Flag(help: "Tiny shapes only (for slow checkers such as oclgrind).")
    var small = false
    @Option(help: "Only kernels whose name contains this text (e.g. gemm, attention).")
    var only: String?

    func run() throws {
        let device = try deviceOptions.open()
        print("kernel parity: \(device.backend) \(device.name) vs the Swift reference")
        print("kernel                shape                                   max error   tolerance  result")
        var failed = 0
        let results = try KernelSuite.run(reference: CPUDevice(), candidate: device, small: small, only: only) { r in
            print("\(r.kernel.padding(21)) \(r.shape.padding(39)) \(String(format: "%10.2e  %10.2e", r.maxError, r.tolerance))  \(r.passed ? "pass" : "FAIL")")
        }
        failed = results.filter { !$0.passed }.count
        print("\(results.count - failed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}
