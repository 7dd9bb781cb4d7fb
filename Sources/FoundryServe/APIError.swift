/// An error in the shape OpenAI's API returns, `{"error": {"message", "type", "param", "code"}}`,
/// with its HTTP status. Every refusal the server makes is one of these.
public struct APIError: Error, CustomStringConvertible {
    public let status: Int
    public let message: String
    public let type: String
    public let param: String?
    public let code: String?

    public init(_ status: Int, _ message: String, type: String = "invalid_request_error", param: String? = nil, code: String? = nil) {
        self.status = status; self.message = message; self.type = type; self.param = param; self.code = code
    }

    public var description: String { message }

    /// A field of the request with a wrong value.
    static func invalid(_ param: String, _ message: String) -> APIError { APIError(400, message, param: param, code: "invalid_value") }

    struct Body: Encodable {
        struct Inner: Encodable { let message: String; let type: String; let param: String?; let code: String? }
        let error: Inner
    }
    var body: Body { Body(error: .init(message: message, type: type, param: param, code: code)) }
}
