import XCTest
import FoundryCheck
import FoundryCore
import FoundryCPU

/// Every OpenCL kernel against the Swift reference at awkward sizes (the same suite as
/// `foundry kernels test`).
final class KernelParityTests: XCTestCase {
    func testEveryKernelMatchesTheReference() throws {
        let cl = try TestDevices.openCL()
        let results = try KernelSuite.run(reference: CPUDevice(), candidate: cl)
        XCTAssertGreaterThan(results.count, 200)
        for r in results where !r.passed {
            XCTFail("\(r.kernel) \(r.shape): error \(r.maxError) > \(r.tolerance)")
        }
        // Every op of the contract is covered.
        let kernels = Set(results.map(\.kernel))
        for k in ["gemm_nn", "gemm_nt", "gemm_tn", "gemm_tt", "gemm_nt_rows", "bias_backward", "layernorm_forward", "layernorm_backward",
                  "softmax", "cross_entropy", "gelu_forward", "gelu_backward", "embedding_forward", "embedding_backward",
                  "attention_forward", "attention_backward", "attention_decode", "adamw", "adamw_skip", "grad_norm",
                  "sampling_probs", "sample_draw", "argmax", "repetition_penalty", "add", "axpy", "copy_rows", "fill", "transpose",
                     "pack_halves", "decode_product_f16", "decode_product_f32"] {
            XCTAssertTrue(kernels.contains(k), "suite lacks \(k)")
        }
    }
}
