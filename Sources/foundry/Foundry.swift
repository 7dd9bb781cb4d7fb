import ArgumentParser
import Foundation

@main
struct Foundry: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "foundry",
        abstract: "Train a GPT-style model through its whole life on any OpenCL device, or on the CPU.",
        discussion: """
        Every command takes --backend cpu|opencl (default opencl, or $FOUNDRY_BACKEND) and \
        --device N (see `foundry devices`). The cpu backend is the plain-Swift reference that \
        checks every kernel; results on the two agree within float rounding.
        """,
        subcommands: [
            Devices.self, Kernels.self, TokenizerCommand.self, Pretrain.self, Sample.self, Fill.self,
            Forward.self, Overfit.self, DataCommand.self, SFT.self, Reward.self, DPO.self, PPO.self, GRPO.self,
            Eval.self, Extract.self, Pipeline.self, Bench.self,
        ])

    /// Every mistake ends in one line on stderr naming the problem and the fix (ArgumentParser
    /// would add the usage to a bad option value; `--help` shows that), and a non-zero exit.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if error is ExitCode || code == .success { exit(withError: error) }   // --help, --version, a chosen exit code
            let message = Self.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
            exit(withError: ExitCode(code.rawValue == 0 ? 1 : code.rawValue))
        }
    }
}
