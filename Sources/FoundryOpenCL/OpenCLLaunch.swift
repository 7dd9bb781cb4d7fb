import COpenCL
import Foundation
import FoundryCore

/// Launch shapes the row-wise families share (bias gradients, LayerNorm): column sums, and
/// whether rows run as work-groups.
extension OpenCLDevice {
    /// A column-sum kernel's grid (Kernels/norm_rows.cl): 16 × 16 work-groups, 16 columns each.
    func launchColumns(_ name: String, cols: Int, _ args: [KernelArg]) {
        let tx = 16, ty = 16
        launch(name, [(cols + tx - 1) / tx * tx, ty], args,
               local: ([tx, ty], "use the one-work-item-per-column kernels: FOUNDRY_WORKGROUP=runtime"))
    }

    /// Whether LayerNorm and the column sums run as work-groups (Kernels/norm_rows.cl: GPUs,
    /// where launches take fixed work-groups) or a work-item per row or column (CPUs).
    var rowsAsGroups: Bool {
        if case .fixed = workGroups { return true }
        return false
    }
}
