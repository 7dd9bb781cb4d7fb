import ArgumentParser
import Foundation
import FoundryCheck

struct KernelsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time each kernel; GEMM GFLOP/s beside CLBlast's SGEMM on the same device in the same run.",
        discussion: "Example: foundry kernels bench --sizes 256,512,1024")

    @Option(help: "Square GEMM sizes, comma-separated.") var sizes = "256,512,1024"
    @Option(help: "Timed repetitions per kernel (the median is shown).") var reps = 5
    @OptionGroup var deviceOptions: DeviceOptions

    func run() throws {
        let squares = try Bench.ints(sizes, "--sizes")
        let device = try deviceOptions.open()
        print("kernel timings on \(device.backend) \(device.name) (median of \(reps))")
        print("kernel              shape                      ms     GFLOP/s   CLBlast GFLOP/s   ratio")
        _ = try KernelBench.run(device: device, squares: squares, reps: max(1, reps)) { r in
            var line = "\(r.kernel.padding(19)) \(r.shape.padding(22)) \(String(format: "%9.3f", r.milliseconds))"
            if let g = r.gflops { line += String(format: "  %9.2f", g) }
            if let b = r.clblastGflops, let g = r.gflops { line += String(format: "  %15.2f  %6.2fx", b, g / b) }
            print(line); fflush(stdout)
        }
    }
}
