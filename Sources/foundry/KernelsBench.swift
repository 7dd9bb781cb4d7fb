import ArgumentParser
import Foundation
import FoundryCheck

struct KernelsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time each kernel; GEMM GFLOP/s beside CLBlast's SGEMM on the same device in the same run.",
        discussion: """
            Example: foundry kernels bench --sizes 256,512,1024
                     foundry kernels bench --shapes 4096x1536x384,384x1536x4096tn   (only these GEMMs)
            """)

    @Option(help: "Square GEMM sizes, comma-separated.") var sizes = "256,512,1024"
    @Option(help: "GEMM shapes MxNxK, comma-separated, each optionally ending in nn, tn, nt or tt (which operands are transposed); times only these.")
    var shapes: String?
    @Option(help: "Timed repetitions per kernel (the median is shown).") var reps = 5

    func validate() throws {
        guard reps >= 1 else { throw ValidationError("--reps must be 1 or more, not \(reps)") }
        _ = try Bench.ints(sizes, "--sizes")
        for s in (shapes ?? "").split(separator: ",") where KernelBench.parseShape(String(s)) == nil {
            throw ValidationError("--shapes: '\(s)' is not MxNxK (positive integers, e.g. 768x384x128 or 128x384x768tn)")
        }
    }
    @OptionGroup var deviceOptions: DeviceOptions

    func run() throws {
        let squares = try Bench.ints(sizes, "--sizes")
        let device = try deviceOptions.open()
        print("kernel timings on \(device.backend) \(device.name) (median of \(reps))")
        print("kernel              shape                      ms     GFLOP/s   CLBlast GFLOP/s   ratio")
        let list = (shapes ?? "").split(separator: ",").compactMap { KernelBench.parseShape(String($0)) }
        _ = try KernelBench.run(device: device, squares: squares, shapes: list, reps: max(1, reps)) { r in
            var line = "\(r.kernel.padding(19)) \(r.shape.padding(22)) \(String(format: "%9.3f", r.milliseconds))"
            if let g = r.gflops { line += String(format: "  %9.2f", g) }
            if let b = r.clblastGflops, let g = r.gflops { line += String(format: "  %15.2f  %6.2fx", b, g / b) }
            print(line); fflush(stdout)
        }
    }
}
