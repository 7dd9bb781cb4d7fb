// swift-tools-version: 6.1
// Foundry: a GPT-style model's whole life on any OpenCL device, with a pure-Swift oracle.
import PackageDescription

let package = Package(
    name: "Foundry",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "foundry", targets: ["foundry"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The HTTP server of `foundry serve` (SwiftNIO underneath). No traits: swift-configuration
        // is not needed, and every package costs CI build time.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        // Already under Hummingbird; named for the server's logger and NIO's body-size error.
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    ],
    targets: [
        // C headers of the system's OpenCL ICD loader (Debian: ocl-icd-opencl-dev, opencl-headers).
        .systemLibrary(name: "COpenCL", path: "Sources/COpenCL"),
        // CLBlast's C API: used only by `foundry kernels bench` as the GEMM yardstick.
        .systemLibrary(name: "CCLBlast", path: "Sources/CCLBlast"),

        // The device contract: buffers, tensor views, the op set, collectives, errors, the RNG.
        .target(name: "FoundryCore", path: "Sources/FoundryCore"),
        // Files Foundry writes and reads whole or line by line: safetensors, atomic files, file
        // sets published as one unit, run locks, append-only logs of people's work.
        .target(name: "FoundryFiles", dependencies: ["FoundryCore"], path: "Sources/FoundryFiles"),
        // The reference backend: plain Swift, one function per op. The oracle.
        .target(name: "FoundryCPU", dependencies: ["FoundryCore"], path: "Sources/FoundryCPU"),
        // Build-time tool + plugin that embed Kernels/*.cl (and the server's Page/ files) into the binary.
        .executableTarget(name: "EmbedKernels", path: "Sources/EmbedKernels"),
        .plugin(name: "EmbedKernelsPlugin", capability: .buildTool(), dependencies: ["EmbedKernels"],
                path: "Plugins/EmbedKernelsPlugin"),
        // The OpenCL backend: context, queue, buffers, program cache, one wrapper per kernel family.
        .target(name: "FoundryOpenCL", dependencies: ["FoundryCore", "FoundryFiles", "COpenCL"],
                path: "Sources/FoundryOpenCL", plugins: ["EmbedKernelsPlugin"]),
        // Tokenizers, datasets, the built-in corpus.
        .target(name: "FoundryData", dependencies: ["FoundryCore", "FoundryFiles"], path: "Sources/FoundryData"),
        // GPT-2 written once against the device contract; checkpoints in Hugging Face layout.
        .target(name: "FoundryModel", dependencies: ["FoundryCore", "FoundryFiles", "FoundryData"], path: "Sources/FoundryModel"),
        // Sampling and generation with a KV cache.
        .target(name: "FoundrySample", dependencies: ["FoundryCore", "FoundryModel"], path: "Sources/FoundrySample"),
        // Optimizer, schedules, batching and the training stages.
        .target(name: "FoundryTrain", dependencies: ["FoundryCore", "FoundryFiles", "FoundryModel", "FoundryData", "FoundrySample"],
                path: "Sources/FoundryTrain"),
        // Data-parallel runs: the Collective of an mpirun job, Open MPI loaded at run time (no
        // build or run dependency for a plain run).
        .target(name: "FoundryDistributed", dependencies: ["FoundryCore"], path: "Sources/FoundryDistributed"),
        // Report cards: PNG line and bar charts (written whole through FoundryFiles).
        .target(name: "FoundryReport", dependencies: ["FoundryCore", "FoundryFiles"], path: "Sources/FoundryReport"),
        // The model's whole life as a library: model directories, stage measures (task accuracy,
        // forgetting, scorers), chat sessions and the pipeline with its report; the CLI, the
        // tests and a server call it in-process.
        .target(name: "FoundryPipeline", dependencies: ["FoundryCore", "FoundryFiles", "FoundryData", "FoundryModel", "FoundrySample", "FoundryTrain",
                                                        "FoundryReport"],
                path: "Sources/FoundryPipeline"),
        // `foundry serve`: OpenAI-compatible endpoints, batched decoding across requests, the chat
        // and ranking page. Everything but the HTTP layer is plain Swift the tests call directly.
        .target(name: "FoundryServe", dependencies: ["FoundryCore", "FoundryFiles", "FoundryData", "FoundryModel", "FoundrySample",
                                                     .product(name: "Hummingbird", package: "hummingbird"),
                                                     .product(name: "Logging", package: "swift-log"),
                                                     .product(name: "NIOCore", package: "swift-nio")],
                path: "Sources/FoundryServe", exclude: ["Page"], plugins: ["EmbedKernelsPlugin"]),
        // The kernel parity suite and benchmarks: library code so the binary can run them on any machine.
        .target(name: "FoundryCheck", dependencies: ["FoundryCore", "FoundryOpenCL", "CCLBlast", "FoundryData", "FoundryModel", "FoundrySample", "FoundryTrain"],
                path: "Sources/FoundryCheck"),
        // The command line: one ParsableCommand per file.
        .executableTarget(name: "foundry", dependencies: [
            "FoundryCore", "FoundryFiles", "FoundryCPU", "FoundryOpenCL", "FoundryData", "FoundryModel",
            "FoundrySample", "FoundryTrain", "FoundryCheck", "FoundryPipeline", "FoundryServe", "FoundryDistributed",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/foundry"),
        .testTarget(name: "FoundryTests", dependencies: [
            "FoundryCore", "FoundryFiles", "FoundryCPU", "FoundryOpenCL", "FoundryData", "FoundryModel",
            "FoundrySample", "FoundryTrain", "FoundryCheck", "FoundryReport", "FoundryPipeline", "FoundryServe", "FoundryDistributed", "foundry",
        ], path: "Tests/FoundryTests", resources: [.copy("Fixtures")]),
    ],
    // Swift 5 language mode: the engine shares raw device pointers across worker threads by
    // design (disjoint rows), which strict Sendable checking cannot express.
    swiftLanguageModes: [.v5]
)
