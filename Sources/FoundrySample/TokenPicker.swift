import FoundryCore

/// Picks one token per row of a [rows, vocab] logits tensor, on the device: the argmax, or a
/// draw from the filtered distribution (temperature, top-k, top-p, min-p) with one uniform per
/// row. Holds the device buffers, so a generator allocates them once per batch size.
public final class TokenPicker {
    let device: Device
    public let rows: Int, vocab: Int
    let probs, uniforms, picked: TensorRef

    public init(device: Device, rows: Int, vocab: Int) throws {
        self.device = device; self.rows = rows; self.vocab = vocab
        probs = try device.makeTensor(count: rows * vocab)
        uniforms = try device.makeTensor(count: rows)
        picked = try device.makeTensor(count: rows)
    }

    /// `draws` is called only when sampling (not greedy) and must return `rows` uniforms in [0, 1).
    public func pick(_ logits: TensorRef, greedy: Bool, filter: SamplingFilter, draws: () -> [Float]) throws -> [Int32] {
        if greedy {
            device.argmax(logits, out: picked, rows: rows, vocab: vocab)
        } else {
            device.samplingProbs(logits: logits, probs: probs, rows: rows, vocab: vocab, filter: filter)
            try device.write(draws(), to: uniforms)
            device.sampleDraw(probs: probs, uniforms: uniforms, out: picked, rows: rows, vocab: vocab)
        }
        return try device.readInts(picked)
    }
}
