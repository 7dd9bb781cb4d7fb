import XCTest
import FoundryCore
import FoundryCPU
import FoundryModel

/// The typed views of the parameter arena against its named layout: every tensor viewed once,
/// at its own offset and size, and the layout in the order checkpoints and AdamW rely on.
final class ParameterLayoutTests: XCTestCase {
    func testTypedViewsCoverTheLayoutExactly() throws {
        let config = GPT2Config(vocabSize: 11, maxSeq: 6, channels: 8, layers: 3, heads: 2)
        let model = try GPT2(config: config, device: CPUDevice())
        let w = model.weights
        var views: [(String, TensorRef)] = [("wte.weight", w.tokenEmbedding), ("wpe.weight", w.positionEmbedding),
                                            ("ln_f.weight", w.finalNormWeight), ("ln_f.bias", w.finalNormBias)]
        for (l, block) in w.blocks.enumerated() {
            for t in BlockTensor.allCases { views.append(("h.\(l).\(t.name)", block[t])) }
        }
        XCTAssertEqual(views.count, model.layout.entries.count)
        for (name, view) in views {
            let e = try XCTUnwrap(model.layout.entry(name), name)
            XCTAssertEqual(view.offset, e.offset, name)
            XCTAssertEqual(view.count, e.count, name)
            XCTAssertTrue(view.buffer === model.params.buffer, name)
        }
        XCTAssertEqual(views.reduce(0) { $0 + $1.1.count }, model.layout.total)
        // Matrices and embeddings first (weight decay is "the first decayCount elements").
        let decayed = model.layout.entries.filter { $0.offset < model.layout.decayCount }.map(\.name)
        XCTAssertEqual(decayed, ["wte.weight", "wpe.weight"] + (0..<3).flatMap { l in BlockTensor.matrices.map { $0.name(layer: l) } })
        XCTAssertEqual(model.gradients.blocks[2][.mlpBias].offset, w.blocks[2][.mlpBias].offset)
        XCTAssertTrue(model.gradients.blocks[2][.mlpBias].buffer === model.grads.buffer)
    }
}
