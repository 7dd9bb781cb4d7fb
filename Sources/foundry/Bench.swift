import ArgumentParser
import Foundation
import FoundryCheck
import FoundryCore
import FoundryFiles
import FoundryData
import FoundryModel
import FoundryPipeline
import FoundryOpenCL
import FoundrySample
import FoundryTrain

/// `foundry bench`: the figures a user compares Foundry on — GEMM beside CLBlast, attention
/// time and memory over T, training tokens/s with its kernel breakdown, generation tokens/s —
/// printed as tables and written to bench.json. Tools/bench.sh adds PyTorch beside it.
/// The parts of `foundry bench`, in the order they run (`train` includes the baby GPT and --gpt2).
enum BenchSection: String, ExpressibleByArgument, CaseIterable {
    case matmul, attention, train, generate
}

struct Bench: ParsableCommand {
    /// The training text when --data is not given and the shared data is beside the checkout.
    static let sharedText = "../shared/data/tinyshakespeare.txt"

    static let configuration = CommandConfiguration(
        abstract: "Benchmark the device: matmul vs CLBlast, attention over T, training and generation tokens/s; writes bench.json.",
        discussion: """
        Training runs nanoGPT's CPU settings (4 layers, 4 heads, 128 wide, context 64, batch 12, \
        character vocabulary) on --data (default \(Bench.sharedText) when present, \
        else Foundry's built-in corpus). --train-steps 2000 is the full run whose validation loss \
        nanoGPT reaches 1.9–2.0 with. Then --baby-steps steps of the 10.8M "baby GPT" (6 layers, \
        6 heads, 384 wide, context 256, batch 16). --gpt2 adds a GPT-2 124M training step (12 \
        layers, 768 wide, context 1024): seconds per step on a CPU, so it is off unless asked for. \
        Tools/bench.sh runs this and the same settings in PyTorch in one go and prints ratios; \
        Tools/bench_llama2c.sh adds llama2.c's run.c beside the stories15M generation rows. \
        With FOUNDRY_PROFILE=1 it ends with each kernel's share of device time. --only runs \
        some sections (a JSON written by --only lacks the others).

        Example: foundry bench --out bench.json
                 foundry bench --only generate --generate-tokens 128
        """)

    @Option(help: "Where to write the JSON results.") var out = "bench.json"
    @Option(help: "Square matmul sizes.") var sizes = "256,512,1024,2048"
    @Option(help: "Attention sequence lengths (batch 1, 4 heads of 32).") var attentionT = "64,128,256,512,1024"
    @Option(help: "Training steps to time (after 3 warm-up steps).") var trainSteps = 60
    @Option(help: "Training text (default: \(Bench.sharedText) if present, else the built-in corpus).") var data: String?
    @Option(help: "Tokens generated per generation measurement.") var generateTokens = 256
    @Flag(help: "Also time a GPT-2 124M training step (batch 1, context 1024).") var gpt2 = false
    @Option(help: "Training steps timed at the 10.8M \"baby GPT\" settings (6 layers, 6 heads, 384 wide, context 256, batch 16; about 3 s a step on 2 CPU cores); 0 skips them.")
    var babySteps = 10
    @Flag(help: "Fewer, smaller measurements (a smoke test).") var quick = false
    @Option(parsing: .upToNextOption, help: "Only these sections (default: all of them).")
    var only: [BenchSection] = BenchSection.allCases
    @Option(help: "Generation: only these model shapes, comma-separated (4L-128, 6L-288, stories15M, gpt2-124M; default: all, gpt2-124M with --gpt2).")
    var models: String?
    @OptionGroup var deviceOptions: DeviceOptions

    func validate() throws {
        guard babySteps >= 0 else { throw ValidationError("--baby-steps must be 0 (skip) or more, not \(babySteps)") }
        guard trainSteps >= 1, generateTokens >= 1 else { throw ValidationError("--train-steps and --generate-tokens must be 1 or more") }
        _ = try Self.ints(sizes, "--sizes")
        _ = try Self.ints(attentionT, "--attention-t")
        _ = try generationShapes()
    }

    /// The generation shapes --models names (all of them by default; GPT-2 124M only with --gpt2 or by name).
    func generationShapes() throws -> [ModelBench.GenerationShape] {
        let all = ModelBench.GenerationShape.small + [ModelBench.GenerationShape.gpt2]
        guard let models else { return ModelBench.GenerationShape.small + (gpt2 ? [ModelBench.GenerationShape.gpt2] : []) }
        return try models.split(separator: ",").map { name in
            let label = name.trimmingCharacters(in: .whitespaces)
            guard let shape = all.first(where: { $0.label == label }) else {
                throw ValidationError("--models: no shape '\(label)'; choose from \(all.map(\.label).joined(separator: ", "))")
            }
            return shape
        }
    }

    func run() throws {
        // Every option (and the training text) is checked before anything runs.
        let squares = try Self.ints(quick ? "256,512" : sizes, "--sizes")
        let lengths = try Self.ints(quick ? "64,256" : attentionT, "--attention-t")
        var text = try trainingText()
        let device = try deviceOptions.open()
        var json: [String: Any] = ["device": device.name, "backend": device.backend, "date": ISO8601DateFormatter().string(from: Date())]
        if let cl = device as? OpenCLDevice { json["kernel_params"] = cl.params.description }
        print("foundry bench on \(device.backend) \(device.name)" + ((device as? OpenCLDevice).map { " (kernel params \($0.params))" } ?? ""))

        // 1. Matmul beside CLBlast.
        if only.contains(.matmul) {
            print("\n## matmul (GFLOP/s; CLBlast SGEMM on the same device, same run)")
            print("shape".padding(34) + "        ms    foundry   clblast   ratio")
            var matmul: [[String: Any]] = []
            for r in try KernelBench.gemm(device: device, squares: squares, reps: quick ? 2 : 5) {
                var line = "\(r.label.padding(18)) \(r.m)x\(r.n)x\(r.k)".padding(34) + String(format: "%10.3f  %9.2f", r.milliseconds, r.gflops)
                if let b = r.clblastGflops { line += String(format: " %9.2f  %5.2fx", b, r.gflops / b) }
                print(line); fflush(stdout)
                matmul.append(["label": r.label, "m": r.m, "n": r.n, "k": r.k, "trans_a": r.transA, "trans_b": r.transB,
                               "foundry_gflops": r.gflops, "clblast_gflops": r.clblastGflops as Any? ?? NSNull()])
            }
            json["matmul"] = matmul
        }

        // 2. Attention forward + backward over T.
        if only.contains(.attention) {
            print("\n## attention forward + backward (batch 1, 4 heads × 32, causal)")
            print("    T    fwd ms    bwd ms   device memory of the attention buffers")
            var attention: [[String: Any]] = []
            for T in lengths {
                let r = try ModelBench.attention(device: device, T: T, reps: quick ? 2 : 3)
                print(String(format: "%5d  %8.3f  %8.3f   %@", T, r.forwardMs, r.backwardMs, r.bytes.map { String(format: "%.2f MiB", Double($0) / 1048576) } ?? "n/a (cpu backend)"))
                fflush(stdout)
                attention.append(["t": T, "forward_ms": r.forwardMs, "backward_ms": r.backwardMs, "peak_bytes": r.bytes as Any? ?? NSNull()])
            }
            json["attention"] = attention
        }

        // 3. Training, nanoGPT CPU settings.
        if only.contains(.train) {
            if text.path == nil {
                // The peer script (Tools/bench_pytorch.py) trains on the same characters.
                let p = URL(fileURLWithPath: out).deletingLastPathComponent().appendingPathComponent("bench-corpus.txt").path
                try AtomicFile.write(Data(text.text.utf8), to: p)
                text.path = p
            }
            print("\n## training: nanoGPT CPU settings (4 layers, 4 heads, 128 wide, context 64, batch 12, char vocab) on \(text.source)")
            let train = try ModelBench.train(device: device, text: text.text, layers: 4, heads: 4, embd: 128, context: 64, batch: 12,
                                             steps: quick ? 10 : trainSteps, evalTokens: quick ? 4096 : 32768)
            print(String(format: "%.0f tokens/s, %.1f ms/step over %d steps; loss %.4f, val loss %.4f", train.tokensPerSec, train.msPerStep,
                         train.steps, train.loss, train.valLoss))
            var trainJSON: [String: Any] = ["settings": "nanogpt-cpu", "foundry_tokens_per_sec": train.tokensPerSec, "ms_per_step": train.msPerStep,
                                            "steps": train.steps, "loss": train.loss, "val_loss": train.valLoss,
                                            "pytorch_tokens_per_sec": NSNull(), "data": text.path as Any? ?? NSNull()]
            if let cl = device as? OpenCLDevice {
                let shares = try ModelBench.kernelShares(index: cl.info.index, params: cl.params, text: text.text)
                print("time share of the top kernels (one profiled step):")
                for (name, share) in shares.prefix(8) { print("  \(name.padding(28)) \(String(format: "%5.1f%%", 100 * share))") }
                trainJSON["kernel_shares"] = Dictionary(uniqueKeysWithValues: shares.map { ($0.0, $0.1) })
            }
            json["train"] = trainJSON
            if babySteps > 0 {
                print("\n## training: baby GPT (6 layers, 6 heads, 384 wide, context 256, batch 16, char vocab; 10.8M parameters)")
                let r = try ModelBench.train(device: device, text: text.text, layers: 6, heads: 6, embd: 384, context: 256, batch: 16,
                                             steps: quick ? 2 : babySteps, evalTokens: 0, warmup: 2)
                print(String(format: "%.0f tokens/s, %.0f ms/step over %d steps; loss %.4f", r.tokensPerSec, r.msPerStep, r.steps, r.loss))
                json["train_baby"] = ["settings": "baby-gpt", "layers": 6, "heads": 6, "embd": 384, "context": 256, "batch": 16,
                                      "foundry_tokens_per_sec": r.tokensPerSec, "ms_per_step": r.msPerStep, "steps": r.steps,
                                      "loss": r.loss, "pytorch_tokens_per_sec": NSNull()]
            }
            if gpt2 {
                print("\n## training: GPT-2 124M shape (12 layers, 12 heads, 768 wide, context 1024, batch 1, vocab 50257)")
                do {
                    let cl = device as? OpenCLDevice
                    cl?.memory.resetPeak()
                    let before = cl?.memory.liveBytes ?? 0
                    let r = try ModelBench.train(device: device, text: nil, layers: 12, heads: 12, embd: 768, context: 1024, batch: 1,
                                                 steps: 2, evalTokens: 0, vocab: 50257, warmup: 1)
                    // Weights, gradients, AdamW moments, activations and scratch, as allocated.
                    let peak = cl.map { $0.memory.peakBytes - before }
                    print(String(format: "%.0f tokens/s, %.0f ms/step", r.tokensPerSec, r.msPerStep)
                          + (peak.map { String(format: "; peak device memory %.2f GiB", Double($0) / 1_073_741_824) } ?? ""))
                    json["train_gpt2_124m"] = ["foundry_tokens_per_sec": r.tokensPerSec, "ms_per_step": r.msPerStep,
                                               "peak_device_bytes": peak as Any? ?? NSNull()]
                } catch {
                    print("skipped: \(error)")
                    json["train_gpt2_124m"] = ["skipped": "\(error)"]
                }
            }
        }

        // 4. Generation with the KV cache, batch 1.
        if only.contains(.generate) {
            print("\n## generation (KV cache, batch 1, \(quick ? 64 : generateTokens) tokens, random weights; stories15M: 6 × 288, vocabulary 32000)")
            var gen: [[String: Any]] = []
            let shapes = try generationShapes()
            for shape in shapes {
                // Half-precision weights beside float ones where the vocabulary makes the weights
                // more than the cache holds (the rows llama2.c and transformers are compared on).
                let precisions: [DecodeWeights] = shape.vocab >= 32000 ? [.f32, .f16] : [.f32]
                for weights in precisions {
                for mode in ["greedy", "top_p"] {
                    let r = try ModelBench.generate(device: device, shape: shape, tokens: quick ? 64 : generateTokens, topP: mode == "top_p",
                                                    weights: weights)
                    print("\(shape.label.padding(10)) \(mode.padding(7)) \(weights.rawValue) \(String(format: "%8.0f tokens/s   first token %7.1f ms", r.tokensPerSec, r.firstTokenMs))"
                          + (r.launchesPerToken.map { String(format: "   %.0f launches, %.0f reads a token", $0, r.readsPerToken ?? 0) } ?? ""))
                    fflush(stdout)
                    gen.append(["model": shape.label, "mode": mode, "weights": weights.rawValue, "layers": shape.layers, "heads": shape.heads, "embd": shape.embd,
                                "vocab": shape.vocab, "foundry_tokens_per_sec": r.tokensPerSec, "first_token_ms": r.firstTokenMs,
                                "prompt_tokens": ModelBench.promptTokens, "launches_per_token": r.launchesPerToken as Any? ?? NSNull(),
                                "reads_per_token": r.readsPerToken as Any? ?? NSNull(), "pytorch_tokens_per_sec": NSNull()])
                }
                }
            }
            // Concurrent streams decoded as one batch (what a server does with several requests).
            var concurrent: [[String: Any]] = []
            let shape = ModelBench.GenerationShape.small[2]
            var single = 0.0
            for streams in [1, 4, 8] where shapes.contains(where: { $0.label == shape.label }) {
                let rate = try ModelBench.concurrent(device: device, shape: shape, streams: streams, tokens: quick ? 32 : 128)
                if streams == 1 { single = rate }
                print("\(shape.label.padding(10)) \(streams) stream\(streams == 1 ? " " : "s") \(String(format: "%8.0f tokens/s in all (%.2fx one stream)", rate, rate / max(single, 1e-9)))")
                fflush(stdout)
                concurrent.append(["model": shape.label, "streams": streams, "foundry_tokens_per_sec": rate])
            }
            json["generate"] = ["foundry_tokens_per_sec": gen.first?["foundry_tokens_per_sec"] as Any, "pytorch_tokens_per_sec": NSNull(), "runs": gen,
                                "concurrent": concurrent]
        }

        try AtomicFile.write(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]), to: out)
        print("\nwrote \(out)")
        printKernelProfile(device, top: 25)
    }

    /// The training text, where it came from, and its absolute path when it is a file.
    func trainingText() throws -> (text: String, source: String, path: String?) {
        func absolute(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.path }
        if let data { return (try readText(data), data, absolute(data)) }
        let shared = Bench.sharedText
        if let t = try? readText(shared) { return (t, shared, absolute(shared)) }
        return (BuiltinCorpus.generate(characters: 1_000_000), "the built-in corpus", nil)
    }

    static func ints(_ s: String, _ name: String) throws -> [Int] {
        let v = s.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ $0 > 0 }) else { throw ValidationError("\(name) must be positive integers, e.g. 64,128") }
        return v
    }
}
