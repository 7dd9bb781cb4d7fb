import FoundryCore

/// Each kernel's parameters as its .cl file declares them. A wrapper's arguments are checked
/// against them at a kernel's first launch, so an argument too few, or an int where the kernel
/// takes a float, fails naming the kernel and the argument instead of computing garbage.
enum KernelSignatures {
    enum Parameter: Equatable {
        case pointer, long, int, float
        /// A type the check does not know (a macro): any argument passes.
        case other(String)
    }

    /// kernel name → its parameters, from every embedded .cl file.
    static let all: [String: [Parameter]] = parse(OpenCLDevice.source)

    /// The `kernel void name(...)` declarations of `source`; a parameter that is an object-like
    /// macro (`GEMM_ARGS`) stands for the parameters it expands to.
    static func parse(_ source: String) -> [String: [Parameter]] {
        let macros = objectMacros(source)
        func expand(_ list: Substring) -> [Substring] {
            list.split(separator: ",").flatMap { piece -> [Substring] in
                let word = piece.trimmingCharacters(in: .whitespacesAndNewlines)
                return macros[word].map { expand(Substring($0)) } ?? [piece]
            }
        }
        func declarations(_ text: String) -> [(name: String, parameters: [Parameter])] {
            var found: [(String, [Parameter])] = []
            var rest = Substring(text)
            while let start = rest.range(of: "kernel void ") {
                rest = rest[start.upperBound...]
                guard let open = rest.firstIndex(of: "("), let close = rest[open...].firstIndex(of: ")") else { break }
                found.append((rest[..<open].trimmingCharacters(in: .whitespaces), expand(rest[rest.index(after: open)..<close]).map { parameter($0) }))
                rest = rest[close...]
            }
            return found
        }
        var out: [String: [Parameter]] = [:]
        for (name, parameters) in declarations(source) { out[name] = parameters }
        // A function-like macro that declares a kernel named by one of its parameters
        // (`DECODE_PRODUCT(NAME, …)`): each invocation declares the kernel its argument names.
        for macro in functionMacros(source) {
            for (name, parameters) in declarations(macro.body) {
                guard let which = macro.parameters.firstIndex(of: name) else { continue }
                out[name] = nil
                for arguments in macro.invocations where which < arguments.count { out[arguments[which]] = parameters }
            }
        }
        return out
    }

    /// Every `#define` of `source`, its continued lines joined: the name, what follows it.
    static func defines(_ source: String) -> [(name: String, rest: Substring)] {
        var out: [(String, Substring)] = []
        let lines = source.components(separatedBy: "\n")
        var i = 0
        while i < lines.count {
            var line = lines[i]
            i += 1
            guard line.hasPrefix("#define ") else { continue }
            while line.hasSuffix("\\"), i < lines.count { line = String(line.dropLast()) + "\n" + lines[i]; i += 1 }
            let text = line.dropFirst("#define ".count)
            let name = text.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            if !name.isEmpty { out.append((String(name), text.dropFirst(name.count))) }
        }
        return out
    }

    /// `#define NAME(a, b) body` with the argument lists of its invocations at the start of a line.
    static func functionMacros(_ source: String) -> [(parameters: [String], body: String, invocations: [[String]])] {
        let lines = source.components(separatedBy: "\n")
        return defines(source).compactMap { name, rest in
            guard rest.first == "(", let close = rest.firstIndex(of: ")") else { return nil }
            let parameters = rest[rest.index(after: rest.startIndex)..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let calls = lines.filter { $0.hasPrefix(name + "(") }.map { line in
                line.dropFirst(name.count + 1).prefix { $0 != ")" }.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            return (parameters, String(rest[rest.index(after: close)...]), calls)
        }
    }

    /// `#define NAME body` (no parameters) → body.
    static func objectMacros(_ source: String) -> [String: String] {
        var out: [String: String] = [:]
        for (name, rest) in defines(source) where rest.first != "(" {
            out[name] = rest.replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
        }
        return out
    }

    static func parameter(_ text: Substring) -> Parameter {
        if text.contains("*") { return .pointer }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
        let type = words.count >= 2 ? words[words.count - 2] : ""
        switch type {
        case "long": return .long
        case "int": return .int
        case "float": return .float
        default: return .other(type)
        }
    }

    /// What the kernel receives for `args`: a tensor is its buffer and its offset.
    static func expanded(_ args: [KernelArg]) -> [Parameter] {
        args.flatMap { arg -> [Parameter] in
            switch arg {
            case .tensor: return [.pointer, .long]
            case .int: return [.int]
            case .float: return [.float]
            case .mem: return [.pointer]
            }
        }
    }

    /// Throws unless `args` fit kernel `name`'s declaration.
    static func check(_ name: String, _ args: [KernelArg]) throws {
        guard let want = all[name] else { throw FoundryError("OpenCL kernel \(name) is declared in no .cl file") }
        let given = expanded(args)
        guard given.count == want.count else {
            throw FoundryError("OpenCL kernel \(name) takes \(want.count) arguments but its wrapper passes \(given.count) (a tensor counts twice: buffer and offset)")
        }
        for (i, (g, w)) in zip(given, want).enumerated() {
            if case .other = w { continue }
            guard g == w else { throw FoundryError("OpenCL kernel \(name): argument \(i) is \(w) in its .cl file but its wrapper passes \(g)") }
        }
    }
}
