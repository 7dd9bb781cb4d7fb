import ArgumentParser
struct KernelsBench: ParsableCommand { static let configuration = CommandConfiguration(commandName: "bench", abstract: "TODO"); func run() throws {} }
