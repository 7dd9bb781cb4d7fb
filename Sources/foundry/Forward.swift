import ArgumentParser
import Foundation
import FoundryCore
import FoundryFiles
import FoundryModel
import FoundryPipeline
import FoundryTrain

struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model on a batch of token ids and save logits, loss (and gradients) for parity checks.",
        discussion: """
        The loss is the mean next-token cross-entropy over all B×(T−1) predicted positions, as \
        transformers computes it with labels = input_ids. With --grads, OUT also holds grad.<name> \
        for every tensor of model.safetensors.

        Example: foundry forward --model gpt2-tiny --tokens tokens.json --out out.safetensors --grads
        """)

    @Option(help: "Model directory.") var model: String
    @Option(help: "JSON array of equal-length arrays of token ids.") var tokens: String
    @Option(help: "Output safetensors file.") var out: String
    @Flag(help: "Also compute and save the gradient of the loss for every parameter.") var grads = false
    @OptionGroup var deviceOptions: DeviceOptions

    func run() throws {
        let device = try deviceOptions.open()
        let (batchTokens, B, T) = try readTokenBatch(tokens)
        let (gpt, _) = try loadModel(model, device: device, needTokenizer: false)
        try gpt.forward(tokens: batchTokens, batch: B, seq: T)
        let logits = try device.read(gpt.logits)
        let y = shiftedTargets(batchTokens, batch: B, seq: T)
        let valid = y.filter { $0 >= 0 }.count
        gpt.zeroGrad()
        let (loss, _) = try gpt.loss(targets: y, gradScale: grads ? 1 / Float(max(valid, 1)) : nil)
        var outTensors = [NamedTensor(name: "logits", shape: [B, T, gpt.config.vocabSize], values: logits),
                          NamedTensor(name: "loss", shape: [1], values: [Float(loss)])]
        if grads {
            try gpt.backward()
            let g = try device.read(gpt.grads)
            for e in gpt.layout.entries {
                outTensors.append(NamedTensor(name: "grad.transformer." + e.name, shape: e.shape,
                                              values: Array(g[e.offset..<e.offset + e.count])))
            }
        }
        try SafeTensors.write(outTensors, metadata: ["backend": device.backend], to: out)
        print(String(format: "loss %.6f over %d positions; wrote %@", loss, valid, out))
    }
}

struct Overfit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take N AdamW steps on one batch and print the loss before each (a 10-step parity trajectory).",
        discussion: """
        PyTorch's torch.optim.AdamW semantics over every parameter: betas 0.9/0.999, eps 1e-8, bias \
        correction, decoupled weight decay, constant learning rate, no clipping. One JSON line per \
        step: {"step": i, "loss": x}, the loss before step i's update. With --out, the weights \
        after the last step are saved there as a model directory.
        """)

    @Option(help: "Model directory.") var model: String
    @Option(help: "JSON array of equal-length arrays of token ids.") var tokens: String
    @Option(help: "Number of steps.") var steps = 10
    @Option(help: "Learning rate.") var lr: Float = 1e-3
    @Option(help: "Weight decay (applied to every parameter, as torch.optim.AdamW(model.parameters())).") var weightDecay: Float = 0.01
    @Option(help: "Save the weights after the last step to this directory.") var out: String?

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be 1 or more, not \(steps)") }
        guard lr.isFinite, lr > 0 else { throw ValidationError("--lr must be a positive number, not \(lr)") }
        guard weightDecay.isFinite, weightDecay >= 0 else { throw ValidationError("--weight-decay must be 0 or more, not \(weightDecay)") }
    }
    @OptionGroup var deviceOptions: DeviceOptions

    func run() throws {
        let device = try deviceOptions.open()
        let (batchTokens, B, T) = try readTokenBatch(tokens)
        let (gpt, _) = try loadModel(model, device: device, needTokenizer: false)
        let opt = try AdamW(model: gpt, weightDecay: weightDecay)
        opt.decayAll = true
        let y = shiftedTargets(batchTokens, batch: B, seq: T)
        let valid = y.filter { $0 >= 0 }.count
        for i in 0..<steps {
            gpt.zeroGrad()
            try gpt.accumulateNextTokenGradients(tokens: batchTokens, targets: y, batch: B, seq: T, stepTargets: valid)
            let norm = opt.update(gpt, lr: lr)
            let (loss, _) = try gpt.readLoss()
            _ = try norm.read()
            print("{\"step\": \(i), \"loss\": \(String(format: "%.7f", loss))}")
        }
        if let out { try Checkpoint.save(gpt, tokenizer: nil, to: out) }
    }
}
