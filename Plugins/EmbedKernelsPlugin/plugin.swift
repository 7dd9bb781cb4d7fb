import Foundation
import PackagePlugin

/// Embeds text files into a target as Swift string literals, so the `foundry` binary carries
/// them and runs from any directory:
/// - FoundryOpenCL: every Kernels/*.cl and *.h file, as `KernelSources.files`;
/// - any other target: the files of its `Page/` folder (the server's page: .html, .css, .js),
///   as `PageFiles.files`. Those are real files to edit with any web tooling; the target
///   excludes the folder so the package manager does not treat it as resources.
@main
struct EmbedKernelsPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let kernels = target.name == "FoundryOpenCL"
        let dir = kernels ? context.package.directoryURL.appendingPathComponent("Kernels")
                          : target.directoryURL.appendingPathComponent("Page")
        let suffixes = kernels ? [".cl", ".h"] : [".html", ".css", ".js"]
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { name in suffixes.contains { name.hasSuffix($0) } }.sorted()
            .map { dir.appendingPathComponent($0) }
        let enumName = kernels ? "KernelSources" : "PageFiles"
        let output = context.pluginWorkDirectoryURL.appendingPathComponent(enumName + ".swift")
        return [.buildCommand(
            displayName: "Embedding \(files.count) files as \(enumName)",
            executable: try context.tool(named: "EmbedKernels").url,
            arguments: [output.path, enumName] + files.map(\.path),
            inputFiles: files,
            outputFiles: [output])]
    }
}
