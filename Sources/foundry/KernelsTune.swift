import ArgumentParser
import Foundation
import FoundryCheck
import FoundryCore
import FoundryCPU
import FoundryOpenCL

struct KernelsTune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Measure GEMM tile sizes on an OpenCL device and keep the fastest for it.",
        discussion: """
        Each candidate (rows per work-item TM, vector width VW, vectors per row NV) is built and \
        timed on the products training uses; the winner is checked against the CPU reference and \
        saved per device, so every later command on that device uses it. --show prints what is \
        in use; --reset goes back to the built-in defaults. $FOUNDRY_KERNEL_PARAMS overrides all \
        of it for one run (e.g. FOUNDRY_KERNEL_PARAMS=TM=8,VW=16,NV=1).

        Example: foundry kernels tune --device 0
        """)

    @Option(help: "OpenCL device index, as listed by `foundry devices` (default: the first GPU, else device 0).") var device: Int?
    @Flag(help: "Try only a few candidates (a quick check rather than a search).") var quick = false
    @Flag(help: "Print the parameters in use for the device and where they come from, then exit.") var show = false
    @Flag(help: "Forget the device's tuned parameters (back to the defaults).") var reset = false
    @Option(help: "Timed repetitions per shape (the median counts).") var reps = 3

    func validate() throws {
        guard reps >= 1 else { throw ValidationError("--reps must be 1 or more, not \(reps)") }
    }

    func run() throws {
        let info = try OpenCLPlatforms.device(device)
        if reset {
            TunedParams.remove(for: info)
            print("\(info.name): tuned parameters removed; using the defaults \(info.defaultParams)")
            return
        }
        if show {
            if let r = TunedParams.load(for: info) {
                print("\(info.name): tuned \(r.params) (\(String(format: "%.1f", r.gflops)) GFLOP/s on \(r.date)), from \(TunedParams.path(for: info))")
            } else {
                print("\(info.name): not tuned; defaults \(info.defaultParams)")
            }
            return
        }
        let candidates = KernelTuner.candidates(isCPU: info.isCPU, quick: quick, defaults: info.defaultParams)
        print("tuning GEMM on \(info.name): \(candidates.count) candidates × \(KernelTuner.shapes.count) shapes (\(KernelTuner.shapes.map(\.0).joined(separator: ", ")))")
        print("parameters              " + KernelTuner.shapes.map { $0.0.padding(17) }.joined() + "geomean GFLOP/s")
        let trials = try KernelTuner.run(index: info.index, candidates: candidates, reps: max(1, reps)) { t in
            print(t.params.description.padding(24) + t.gflops.map { String(format: "%8.2f", $0).padding(17) }.joined()
                  + String(format: "%8.2f", t.score))
            fflush(stdout)
        }
        guard let best = trials.max(by: { $0.score < $1.score }) else { throw FoundryError("no candidate could be measured") }
        // The winner must compute the same products as the reference before it is kept.
        let check = try OpenCLDevice(index: info.index, params: best.params)
        let results = try KernelSuite.run(reference: CPUDevice(), candidate: check, small: false, only: "gemm")
        let failed = results.filter { !$0.passed }
        guard failed.isEmpty else {
            throw FoundryError("the fastest parameters \(best.params) fail \(failed.count) GEMM parity cases (e.g. \(failed[0].kernel) \(failed[0].shape)); nothing saved — please report this device")
        }
        let date = ISO8601DateFormatter().string(from: Date())
        try TunedParams.save(.init(device: info.name, driver: info.driver, params: best.params, gflops: best.score, date: date), for: info)
        let d = trials.first { $0.params == info.defaultParams }
        print("best: \(best.params), \(String(format: "%.2f", best.score)) GFLOP/s geomean"
              + (d.map { String(format: " (defaults: %.2f, %.2fx)", $0.score, best.score / $0.score) } ?? "")
              + "; \(results.count) GEMM parity cases pass; saved to \(TunedParams.path(for: info))")
    }
}
