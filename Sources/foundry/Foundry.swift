import ArgumentParser

@main
struct Foundry: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "foundry",
        abstract: "Train a GPT-style model through its whole life on any OpenCL device, or on the CPU.",
        discussion: """
        Every command takes --backend cpu|opencl (default opencl, or $FOUNDRY_BACKEND) and
        --device N (see `foundry devices`). The cpu backend is the plain-Swift reference that
        checks every kernel; results on the two agree within float rounding.
        """,
        subcommands: [
            Devices.self, Kernels.self, TokenizerCommand.self, Pretrain.self, Sample.self, Fill.self,
            Forward.self, Overfit.self, DataCommand.self, SFT.self, Reward.self, DPO.self, PPO.self, GRPO.self,
            Eval.self, Extract.self, Pipeline.self, Bench.self,

        ])
}
