import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import FoundryOpenCL
import FoundrySample
import FoundryTrain

/// The model-level measurements behind `foundry bench` (training, attention, generation), each
/// self-contained: library code, so any binary or test can take them.
public enum ModelBench {
    public static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }

    /// Causal attention forward and backward at length T (batch 1, 4 heads of 32): median
    /// milliseconds, and the device memory its buffers take (opencl only).
    public static func attention(device: Device, T: Int, reps: Int) throws -> (forwardMs: Double, backwardMs: Double, bytes: Int?) {
        let H = 4, C = 128
        let cl = device as? OpenCLDevice
        let before = cl?.memory.liveBytes ?? 0
        cl?.memory.resetPeak()
        var rng = RNG(seed: 3)
        let qkv = try device.upload((0..<T * 3 * C).map { _ in Float(rng.normal()) })
        let out = try device.makeTensor(count: T * C), dout = try device.upload((0..<T * C).map { _ in Float(rng.normal()) })
        let lse = try device.makeTensor(count: H * T), scratch = try device.makeTensor(count: H * T)
        let dqkv = try device.makeTensor(count: T * 3 * C)
        let layout = AttentionLayout.fused(batch: 1, seq: T, channels: C, heads: H, causal: true)
        func fwd() { device.attentionForward(q: qkv, k: qkv.slice(C, qkv.count - C), v: qkv.slice(2 * C, qkv.count - 2 * C), out: out, lse: lse, layout: layout) }
        func bwd() { device.attentionBackward(dout: dout, qkv: qkv, out: out, lse: lse, dqkv: dqkv, scratch: scratch, layout: layout) }
        let f = try KernelBench.time(device, reps: reps, fwd)      // leaves `out` and `lse` for the backward
        let b = try KernelBench.time(device, reps: reps, bwd)
        return (f, b, cl.map { $0.memory.peakBytes - before })
    }

    public struct TrainResult { public var tokensPerSec: Double, msPerStep: Double, steps: Int, loss: Double, valLoss: Double }

    /// Times `steps` AdamW steps (after warm-up) of a freshly initialised model on random
    /// windows of `text` (char tokenizer), then measures the validation loss on its last 10%.
    /// With `text` nil: random tokens of `vocab` (speed only).
    public static func train(device: Device, text: String?, layers: Int, heads: Int, embd: Int, context: Int, batch: Int,
                      steps: Int, evalTokens: Int, vocab: Int = 0, warmup: Int = 3) throws -> TrainResult {
        var tokens: [Int32]
        var V = vocab
        if let text {
            let tok = CharTokenizer.train(corpus: text)
            tokens = try tok.encode(text)
            V = tok.vocabSize
        } else {
            var r = RNG(seed: 5)
            tokens = (0..<(context + 1) * 8).map { _ in Int32(r.below(V)) }
        }
        let split = text == nil ? tokens.count : tokens.count * 9 / 10
        let trainTokens = Array(tokens[..<split]), valTokens = Array(tokens[split...])
        let model = try GPT2(config: GPT2Config(vocabSize: V, maxSeq: context, channels: embd, layers: layers, heads: heads), device: device)
        try model.initialise(seed: 1337)
        let opt = try AdamW(model: model, weightDecay: 0.1)
        var rng = RNG(seed: 1)
        var lastLoss = Double.nan
        func step() throws {
            var x: [Int32] = [], y: [Int32] = []
            for _ in 0..<batch {
                let s = rng.below(trainTokens.count - context - 1)
                x += trainTokens[s..<s + context]; y += trainTokens[s + 1..<s + context + 1]
            }
            model.zeroGrad()
            try model.accumulateNextTokenGradients(tokens: x, targets: y, batch: batch, seq: context, stepTargets: batch * context)
            let norm = opt.update(model, lr: 1e-3, clip: 1)
            lastLoss = try model.readLoss().loss  // the step's one wait
            _ = try norm.read()
        }
        for _ in 0..<warmup { try step() }
        let s = try seconds { for _ in 0..<steps { try step() } }
        var val = Double.nan
        if evalTokens > 0, valTokens.count > context + 1 {
            val = try windowedLoss(model: model, tokens: valTokens, seq: context, batch: batch, maxTokens: evalTokens)
        }
        return TrainResult(tokensPerSec: Double(steps * batch * context) / s, msPerStep: 1000 * s / Double(steps),
                           steps: steps, loss: lastLoss, valLoss: val)
    }

    /// Each kernel's share of device time over a few training steps, on a profiling queue.
    public static func kernelShares(index: Int, params: KernelParams, text: String) throws -> [(String, Double)] {
        let d = try OpenCLDevice(index: index, params: params, profiling: true)
        _ = try train(device: d, text: text, layers: 4, heads: 4, embd: 128, context: 64, batch: 12, steps: 1, evalTokens: 0, warmup: 1)
        d.resetProfile()
        _ = try train(device: d, text: text, layers: 4, heads: 4, embd: 128, context: 64, batch: 12, steps: 3, evalTokens: 0, warmup: 0)
        try d.finish()
        let total = d.profile.values.reduce(0.0) { $0 + Double($1.nanoseconds) }
        return d.profile.map { ($0.key, Double($0.value.nanoseconds) / max(total, 1)) }.sorted { $0.1 > $1.1 }
    }

    /// A model shape generation is timed at.
    public struct GenerationShape {
        public let label: String, layers: Int, heads: Int, embd: Int, vocab: Int
        public init(label: String, layers: Int, heads: Int, embd: Int, vocab: Int) {
            self.label = label; self.layers = layers; self.heads = heads; self.embd = embd; self.vocab = vocab
        }
        /// The character-level models of the training benchmark, llama2.c's "stories15M" width
        /// class (6 × 288, vocabulary 32000) and GPT-2 124M.
        public static let small = [GenerationShape(label: "4L-128", layers: 4, heads: 4, embd: 128, vocab: 65),
                            GenerationShape(label: "6L-288", layers: 6, heads: 6, embd: 288, vocab: 65),
                            GenerationShape(label: "stories15M", layers: 6, heads: 6, embd: 288, vocab: 32000)]
        public static let gpt2 = GenerationShape(label: "gpt2-124M", layers: 12, heads: 12, embd: 768, vocab: 50257)
    }

    /// Timed runs a generation row takes the best of.
    public static let generationRuns = 3

    /// The prompt length time to first token is measured with.
    public static let promptTokens = 32

    /// Tokens per second generating `tokens` tokens from one token with the KV cache (random
    /// weights): greedy, or top-p 0.9 at temperature 1, the best of `generationRuns` runs (as
    /// Tools/bench_llama2c.sh takes llama2.c's: this machine's speed moves by tens of per cent
    /// from run to run); and the time to the first token after a `promptTokens`-token prompt
    /// (its prefill and one pick), in milliseconds. `weights`: the precision the decoding steps
    /// read the weights in.
    public static func generate(device: Device, shape g: GenerationShape, tokens: Int, topP: Bool, weights: DecodeWeights = .f32)
        throws -> (tokensPerSec: Double, firstTokenMs: Double, launchesPerToken: Double?, readsPerToken: Double?) {
        let model = try GPT2(config: GPT2Config(vocabSize: g.vocab, maxSeq: max(tokens, promptTokens) + 1, channels: g.embd,
                                                layers: g.layers, heads: g.heads), device: device)
        try model.initialise(seed: 7)
        let gen = try Generator(model: model)
        var s = SamplingSettings()
        s.maxTokens = tokens; s.greedy = !topP; s.weights = weights
        s.filter = SamplingFilter(temperature: 1, topK: 0, topP: topP ? 0.9 : 1)
        _ = try gen.generate(prompt: [0], settings: s)       // warm-up
        var produced = 0
        let cl = device as? OpenCLDevice
        let launches0 = cl?.launchCount ?? 0, reads0 = cl?.readCount ?? 0
        var t = try seconds { produced = try gen.generate(prompt: [0], settings: s).count }
        for _ in 1..<generationRuns { t = min(t, try seconds { _ = try gen.generate(prompt: [0], settings: s) }) }
        let perToken = { (n: Int) in Double(n) / Double(max(produced, 1) * generationRuns) }
        let launches = cl.map { perToken($0.launchCount - launches0) }, reads = cl.map { perToken($0.readCount - reads0) }
        var first = s
        first.maxTokens = 1
        let prompt = (0..<promptTokens).map { Int32($0 % g.vocab) }
        _ = try gen.generate(prompt: prompt, settings: first)  // warm-up at this prompt length
        var ttft = Double.infinity
        for _ in 0..<generationRuns { ttft = min(ttft, try seconds { _ = try gen.generate(prompt: prompt, settings: first) }) }
        return (Double(produced) / t, 1000 * ttft, launches, reads)
    }

    /// Total tokens per second of `streams` conversations decoded together (one batch of
    /// `streams` rows a step, as a server batches concurrent requests), `tokens` each, top-p 0.9
    /// at temperature 1 from one-token prompts, random weights.
    public static func concurrent(device: Device, shape g: GenerationShape, streams: Int, tokens: Int) throws -> Double {
        let model = try GPT2(config: GPT2Config(vocabSize: g.vocab, maxSeq: tokens + 2, channels: g.embd, layers: g.layers, heads: g.heads),
                             device: device)
        try model.initialise(seed: 7)
        let gen = try BatchGenerator(model: model, maxBatch: streams)
        var s = SamplingSettings()
        s.maxTokens = tokens
        s.filter = SamplingFilter(temperature: 1, topK: 0, topP: 0.9)
        let prompts = (0..<streams).map { [Int32($0 % g.vocab)] }, seeds = (0..<streams).map { UInt64($0 + 1) }
        _ = try gen.generate(prompts: prompts, seeds: seeds, settings: s)   // warm-up
        var produced = 0
        let t = try seconds { produced = try gen.generate(prompts: prompts, seeds: seeds, settings: s).reduce(0) { $0 + $1.count } }
        return Double(produced) / t
    }
}
