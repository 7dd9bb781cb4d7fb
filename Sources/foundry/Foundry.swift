import ArgumentParser
import Foundation
import FoundryCore

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
            Devices.self, Kernels.self, TokenizerCommand.self, Pretrain.self, Sample.self, Chat.self, Fill.self,
            Forward.self, Overfit.self, DataCommand.self, SFT.self, Reward.self, DPO.self, PPO.self, GRPO.self,
            Eval.self, Extract.self, Export.self, Serve.self, Pipeline.self, Bench.self,
        ])

    /// Every mistake ends in one line on stderr naming the problem and the fix (ArgumentParser
    /// would add the usage to a bad option value; `--help` shows that), and a non-zero exit.
    static func main() {
        // A closed pipe on stdout (`foundry pretrain | head`) must not kill a run mid-step:
        // writes then fail, and the failure is reported once at the end (`checkStandardOutput`).
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot()
            try Launch.checkDataParallel(command)
            try command.run()
            try checkStandardOutput()
        } catch {
            let code = exitCode(for: error)
            if error is ExitCode || code == .success { exit(withError: error) }   // --help, --version, a chosen exit code
            var message = Self.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            message += negativeNumberHint(message)
            FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
            exit(withError: ExitCode(code.rawValue == 0 ? 1 : code.rawValue))
        }
    }

    /// ArgumentParser reads `--steps -5` as a flag with no value; say what was meant.
    static func negativeNumberHint(_ message: String, arguments: [String] = CommandLine.arguments) -> String {
        guard message.hasPrefix("Missing value for") else { return "" }
        for (flag, value) in zip(arguments, arguments.dropFirst()) where flag.hasPrefix("--") && message.contains("'\(flag) ") {
            if value.count > 1, value.hasPrefix("-"), Double(value) != nil {
                return " (\(value) was read as an option: write \(flag)=\(value); the value must still be allowed, see --help)"
            }
        }
        return ""
    }

    /// Whether everything printed reached standard output (a full disk, a closed descriptor or
    /// a reader that went away all lose it); one line on stderr when not.
    static func checkStandardOutput() throws {
        errno = 0
        if fflush(stdout) != 0 || ferror(stdout) != 0 {
            let cause = errno != 0 ? String(cString: strerror(errno)) : "a write failed"
            throw FoundryError("cannot write to standard output: \(cause) (is it a full disk, or a pipe whose reader exited?)")
        }
    }
}
