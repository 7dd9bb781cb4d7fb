/// Every error a user can cause, each with one line that names the problem and the fix.
public struct FoundryError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    public static func missingFile(_ path: String, hint: String = "") -> FoundryError {
        FoundryError("file not found: \(path)" + (hint.isEmpty ? "" : " (\(hint))"))
    }
}
