import Foundation
import XCTest
import FoundryCore
import FoundryCPU
import FoundryOpenCL

/// The OpenCL device the tests use (PoCL in CI), opened once. Tests that need it skip with a
/// clear reason on a machine without any OpenCL platform.
enum TestDevices {
    nonisolated(unsafe) static var cachedOpenCL: Result<OpenCLDevice, Error>?

    static func openCL() throws -> OpenCLDevice {
        if cachedOpenCL == nil { cachedOpenCL = Result { try OpenCLDevice(index: 0) } }
        switch cachedOpenCL! {
        case .success(let d): return d
        case .failure(let e): throw XCTSkip("no OpenCL device: \(e)")
        }
    }

    /// Both backends, the reference first.
    static func all() throws -> [Device] { [CPUDevice(), try openCL()] }
}

enum Fixtures {
    static var directory: String {
        // Prefer the source tree (always current), then the copied bundle resource.
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        if FileManager.default.fileExists(atPath: here.path) { return here.path }
        return Bundle.module.resourceURL!.appendingPathComponent("Fixtures").path
    }
    static func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
}

/// Runs the built `foundry` binary (a sibling of the test bundle) and captures its output.
enum CLI {
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("foundry").path
    }

    static func run(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "foundry-test-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}
