import ArgumentParser
import FoundryOpenCL

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List OpenCL platforms and devices (the numbers --device takes).")

    func run() throws {
        let devices = try OpenCLPlatforms.devices()
        let preferred = OpenCLPlatforms.preferredIndex(devices.map(\.type))
        print("index  type  compute units  global memory  max buffer  device (platform; OpenCL version; driver)")
        for d in devices {
            let mem = String(format: "%8.1f GiB", Double(d.globalMemory) / 1_073_741_824)
            let alloc = String(format: "%7.1f GiB", Double(d.maxAllocation) / 1_073_741_824)
            print("\((String(d.index) + (d.index == preferred && devices.count > 1 ? "*" : "")).padding(5))  \(d.type.padding(4))  \(String(d.computeUnits).padding(13))  \(mem)   \(alloc)  \(d.name) (\(d.platform); \(d.version); \(d.driver))")
        }
        if devices.count > 1 { print("* the default when --device is not given (the first GPU)") }
    }
}


import Foundation
