import Foundation
import PackagePlugin

/// Embeds every Kernels/*.cl file into the OpenCL target as Swift string literals, so the
/// `foundry` binary carries its kernels and runs from any directory.
@main
struct EmbedKernelsPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let kernelsDir = context.package.directoryURL.appendingPathComponent("Kernels")
        let files = try FileManager.default.contentsOfDirectory(atPath: kernelsDir.path)
            .filter { $0.hasSuffix(".cl") || $0.hasSuffix(".h") }.sorted()
            .map { kernelsDir.appendingPathComponent($0) }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("KernelSources.swift")
        return [.buildCommand(
            displayName: "Embedding \(files.count) OpenCL kernel files",
            executable: try context.tool(named: "EmbedKernels").url,
            arguments: [output.path] + files.map(\.path),
            inputFiles: files,
            outputFiles: [output])]
    }
}
