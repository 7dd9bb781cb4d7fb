import COpenCL
import FoundryCore

/// Turns an OpenCL status code into a FoundryError that names the call and the code.
@inline(__always)
func check(_ status: cl_int, _ what: @autoclosure () -> String) throws {
    if status != CL_SUCCESS { throw FoundryError("OpenCL \(what()) failed: \(clErrorName(status))") }
}

func clErrorName(_ code: cl_int) -> String {
    let names: [cl_int: String] = [
        -1: "CL_DEVICE_NOT_FOUND", -2: "CL_DEVICE_NOT_AVAILABLE", -3: "CL_COMPILER_NOT_AVAILABLE",
        -4: "CL_MEM_OBJECT_ALLOCATION_FAILURE (out of device memory)", -5: "CL_OUT_OF_RESOURCES",
        -6: "CL_OUT_OF_HOST_MEMORY", -11: "CL_BUILD_PROGRAM_FAILURE", -30: "CL_INVALID_VALUE",
        -33: "CL_INVALID_DEVICE", -34: "CL_INVALID_CONTEXT", -36: "CL_INVALID_COMMAND_QUEUE",
        -38: "CL_INVALID_MEM_OBJECT", -42: "CL_INVALID_BINARY", -44: "CL_INVALID_PROGRAM",
        -45: "CL_INVALID_PROGRAM_EXECUTABLE", -46: "CL_INVALID_KERNEL_NAME", -48: "CL_INVALID_KERNEL",
        -49: "CL_INVALID_ARG_INDEX", -50: "CL_INVALID_ARG_VALUE", -51: "CL_INVALID_ARG_SIZE",
        -52: "CL_INVALID_KERNEL_ARGS", -54: "CL_INVALID_WORK_GROUP_SIZE", -55: "CL_INVALID_WORK_ITEM_SIZE",
        -61: "CL_INVALID_BUFFER_SIZE", -63: "CL_INVALID_GLOBAL_WORK_SIZE", -1001: "CL_PLATFORM_NOT_FOUND_KHR",
    ]
    return "\(names[code] ?? "error") (\(code))"
}

/// The one message for a machine without OpenCL.
let noOpenCLMessage = "no OpenCL platform or device found: install a driver (on Debian: `apt-get install pocl-opencl-icd` for the CPU, or your GPU vendor's OpenCL ICD), or run with `--backend cpu`"
