import XCTest
import FoundryCore
import FoundryCPU
@testable import FoundryOpenCL

/// The kernels' declarations, read from the .cl files, against which every wrapper's launch
/// arguments are checked at a kernel's first launch (the kernel suite launches every kernel).
final class KernelSignatureTests: XCTestCase {
    func testEveryKernelDeclarationIsRead() throws {
        // Every `kernel void` but the one inside DECODE_PRODUCT's definition, plus its two invocations.
        let declared = OpenCLDevice.source.components(separatedBy: "kernel void ").count - 1
        XCTAssertEqual(KernelSignatures.all.count, declared + 1)
        XCTAssertNotNil(KernelSignatures.all["decode_product_f16"])
        XCTAssertEqual(KernelSignatures.all["decode_product_f16"], KernelSignatures.all["decode_product_f32"])
        XCTAssertGreaterThan(declared, 40)
        for (name, parameters) in KernelSignatures.all {
            XCTAssertTrue(name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }, "kernel name \(name)")
            XCTAssertFalse(parameters.isEmpty, name)
        }
        XCTAssertEqual(KernelSignatures.all["add"], [.pointer, .long, .pointer, .long, .pointer, .long, .int])
        XCTAssertEqual(KernelSignatures.all["axpy"], [.float, .pointer, .long, .pointer, .long, .int])
        // GEMM_ARGS, a macro, expanded: m, n, k, alpha, beta, A, B, C, bias (each with its offset), has_bias.
        XCTAssertEqual(KernelSignatures.all["gemm_nn_1"], [.int, .int, .int, .float, .float] + Array(repeating: [.pointer, .long], count: 4).flatMap { $0 } + [.int])
    }

    func testAWrapperThatDoesNotMatchTheKernelIsRefused() throws {
        let t = try CPUDevice().makeTensor(count: 4)
        XCTAssertNoThrow(try KernelSignatures.check("add", [.tensor(t), .tensor(t), .tensor(t), .int(4)]))
        XCTAssertThrowsError(try KernelSignatures.check("add", [.tensor(t), .tensor(t), .tensor(t), .float(4)])) {
            XCTAssertTrue("\($0)".contains("argument 6") && "\($0)".contains("add"), "\($0)")
        }
        XCTAssertThrowsError(try KernelSignatures.check("add", [.tensor(t), .tensor(t), .int(4)])) {
            XCTAssertTrue("\($0)".contains("takes 7 arguments but its wrapper passes 5"), "\($0)")
        }
        XCTAssertThrowsError(try KernelSignatures.check("no_such_kernel", []))
    }
}
