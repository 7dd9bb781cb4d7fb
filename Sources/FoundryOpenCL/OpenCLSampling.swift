import COpenCL
import Foundation
import FoundryCore

/// The Device ops of Kernels/sampling.cl: picking tokens.
/// Each wrapper only maps arguments and picks the launch shape; the math is in the kernels.
extension OpenCLDevice {
    public func samplingProbs(logits: TensorRef, probs: TensorRef, rows: Int, vocab: Int, filter: SamplingFilter) {
        if filter.temperature <= 0 {
            launchRows("sampling_probs_greedy", rows: rows, [.tensor(logits), .tensor(probs), .int(vocab)])
            return
        }
        launchRows("sampling_probs", rows: rows, [.tensor(logits), .tensor(probs), .int(vocab),
                                                  .float(filter.temperature), .int(filter.topK), .float(filter.topP), .float(filter.minP)])
    }

    public func sampleDraw(probs: TensorRef, uniforms: TensorRef, out: TensorRef, rows: Int, vocab: Int) {
        launch("sample_draw", [rows], [.tensor(probs), .tensor(uniforms), .tensor(out), .int(rows), .int(vocab)])
    }

    public func argmax(_ x: TensorRef, out: TensorRef, rows: Int, vocab: Int) {
        launchRows("argmax_rows", rows: rows, [.tensor(x), .tensor(out), .int(vocab)])
    }

    public func repetitionPenalty(logits: TensorRef, vocab: Int, tokens: TensorRef, count: Int, penalty: Float) {
        launch("repetition_penalty", [vocab], [.tensor(logits), .int(vocab), .tensor(tokens), .int(count), .float(penalty)])
    }
}
