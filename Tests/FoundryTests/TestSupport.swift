import Foundation
import XCTest
import FoundryCore
import FoundryCPU
import FoundryOpenCL

/// The OpenCL device the tests use (PoCL in CI), opened once. A machine without an OpenCL
/// platform fails the tests that need one, so CI cannot go green without exercising the kernels;
/// `FOUNDRY_TESTS_WITHOUT_OPENCL=1` turns those failures into skips and runs the CPU halves alone.
enum TestDevices {
    nonisolated(unsafe) static var cachedOpenCL: Result<OpenCLDevice, Error>?

    static var openCLOptional: Bool { ProcessInfo.processInfo.environment["FOUNDRY_TESTS_WITHOUT_OPENCL"] == "1" }

    /// The OpenCL device; without one, a failure (or, when allowed, a skip) naming the fix.
    static func openCL() throws -> OpenCLDevice {
        if cachedOpenCL == nil { cachedOpenCL = Result { try OpenCLDevice(index: 0) } }
        switch cachedOpenCL! {
        case .success(let d): return d
        case .failure(let e):
            if openCLOptional { throw XCTSkip("no OpenCL device (FOUNDRY_TESTS_WITHOUT_OPENCL=1): \(e)") }
            throw FoundryError("no OpenCL device: \(e). Install one (Debian: apt-get install pocl-opencl-icd), "
                               + "or set FOUNDRY_TESTS_WITHOUT_OPENCL=1 to skip the OpenCL halves")
        }
    }

    /// The backends to check: the reference first, then OpenCL (left out only when allowed to be
    /// missing, so the CPU half still runs).
    static func all() throws -> [Device] {
        do { return [CPUDevice(), try openCL()] } catch is XCTSkip { return [CPUDevice()] }
    }
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

    /// A process of `executable` with `args`, this process's environment plus `environment`.
    static func process(_ executable: String, _ args: [String], environment: [String: String]) -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        return p
    }

    static func run(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = process(binary, args, environment: environment)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Runs any `executable` to its end, its stdout and stderr together in one text.
    static func output(of executable: String, _ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let p = process(executable, args, environment: environment)
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "foundry-test-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

/// (loss(x + h·eᵢ) − loss(x − h·eᵢ)) / 2h: coordinate `i` of `values` moved both ways, each
/// state handed to `write` (onto the device) before `loss`; `values` and the device are left as
/// they were.
func centralDifference(_ values: inout [Float], at i: Int, h: Float, write: ([Float]) throws -> Void,
                       loss: () throws -> Double) throws -> Double {
    let old = values[i]
    values[i] = old + h; try write(values); let up = try loss()
    values[i] = old - h; try write(values); let down = try loss()
    values[i] = old; try write(values)
    return (up - down) / Double(2 * h)
}
