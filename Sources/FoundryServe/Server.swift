import Foundation
import FoundryCore
import Hummingbird
import Logging
import NIOCore

/// The HTTP side of `foundry serve`: routes, the API key, OpenAI-shaped errors for every
/// refusal, and the page. Generation itself is `ServedModel` and `Engine`.
public final class FoundryServer: @unchecked Sendable {
    public let model: ServedModel
    public let options: ServeOptions
    let desk: RankingDesk?
    /// The port listened on (known once running; the page's Host check compares with it).
    let boundPort = BoundPort()

    public init(model: ServedModel, options: ServeOptions, desk: RankingDesk? = nil) {
        self.model = model; self.options = options; self.desk = desk
    }

    /// The application; `onRunning` gets the port it listens on (useful with port 0).
    public func application(logLevel: Logger.Level = .notice,
                            onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: OpenAIErrorShape(maxBodyBytes: options.maxBodyBytes))
        router.add(middleware: BearerCheck(key: options.apiKey))
        let model = self.model, limit = options.maxBodyBytes, desk = self.desk

        for asset in Page.assets {
            let text = Page.text(asset.file)
            router.get(RouterPath(asset.path)) { _, _ in
                Response(status: .ok, headers: [.contentType: asset.type, .cacheControl: "no-cache"],
                         body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }
        router.get("/health") { _, _ in
            let load = model.engine.load
            return jsonResponse(Health(status: "ok", model: model.name, running: load.running, waiting: load.waiting))
        }
        router.get("/v1/models") { _, _ in
            jsonResponse(OpenAI.ModelList(data: [OpenAI.Model(id: model.name, created: model.created)]))
        }
        router.get("/foundry/info") { _, _ in
            let c = model.engine.model.config
            return jsonResponse(Info(model: model.name, context: c.maxSeq, vocab: c.vocabSize, layers: c.layers, channels: c.channels,
                                     backend: model.engine.model.device.backend, chat: model.template != nil,
                                     slots: model.engine.slots, ranking: desk != nil, k: desk?.k))
        }
        for (path, kind) in [("/v1/chat/completions", CompletionRequest.Kind.chat), ("/v1/completions", .text)] {
            router.post(RouterPath(path)) { request, _ -> Response in
                let started = try model.start(kind, body: try await bodyData(request, limit: limit))
                guard started.request.stream else {
                    return Response(status: .ok, headers: [.contentType: "application/json"],
                                    body: .init(byteBuffer: ByteBuffer(bytes: try await model.collect(started))))
                }
                return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                                body: ResponseBody { writer in
                                    try await model.stream(started) { try await writer.write(ByteBuffer(bytes: $0)) }
                                    try await writer.finish(nil)
                                })
            }
        }
        if let desk {
            let page = PageRequestCheck(host: options.host, port: boundPort)
            router.post("/foundry/rank/session") { request, _ -> Response in
                try page.check(request)
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(bytes: await desk.startSession())))
            }
            router.get("/foundry/rank/next") { request, _ -> Response in
                try page.check(request)
                let ranker = request.uri.queryParameters["ranker"].map(String.init)
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(bytes: try await desk.next(ranker: ranker))))
            }
            router.post("/foundry/rank/submit") { request, _ -> Response in
                try page.check(request)
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(bytes: try await desk.submit(try await bodyData(request, limit: limit)))))
            }
        }
        let host = options.host
        return Application(router: router,
                           configuration: .init(address: .hostname(host, port: options.port), serverName: "foundry"),
                           onServerRunning: { [boundPort] channel in
                               let port = channel.localAddress?.port ?? 0
                               boundPort.value = port
                               await onRunning(port)
                           },
                           logger: { var l = Logger(label: "foundry.serve"); l.logLevel = logLevel; return l }())
    }

    struct Health: Encodable { let status: String; let model: String; let running: Int; let waiting: Int }
    struct Info: Encodable {
        let model: String; let context: Int; let vocab: Int; let layers: Int; let channels: Int; let backend: String
        let chat: Bool; let slots: Int; let ranking: Bool; let k: Int?
    }
}

func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: OpenAI.encode(value))))
}

/// The request body, at most `limit` bytes (NIO's error past it becomes a 413 in `OpenAIErrorShape`).
func bodyData(_ request: Request, limit: Int) async throws -> Data {
    var buffer = try await request.body.collect(upTo: limit)
    return Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
}

extension APIError {
    var response: Response { jsonResponse(body, status: HTTPResponse.Status(code: status)) }
}

/// Every error leaves as OpenAI's JSON error body with a fitting status, including the
/// router's own (no such route, a body too large), and the server goes on.
struct OpenAIErrorShape<Context: RequestContext>: RouterMiddleware {
    let maxBodyBytes: Int
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            return e.response
        } catch is NIOTooManyBytesError {
            return APIError(413, "the request body is larger than \(maxBodyBytes) bytes (`foundry serve --max-body-bytes`)").response
        } catch let e as HTTPResponseError {
            switch e.status {
            case .notFound:
                return APIError(404, "there is no \(request.method) \(request.uri.path): the server has POST /v1/chat/completions, "
                    + "POST /v1/completions, GET /v1/models, GET /health and the page at /", code: "not_found").response
            case .methodNotAllowed:
                return APIError(405, "\(request.uri.path) does not take \(request.method)", code: "method_not_allowed").response
            default:
                return APIError(e.status.code, "\(e.status.reasonPhrase)", type: e.status.code >= 500 ? "server_error" : "invalid_request_error").response
            }
        } catch {
            return APIError(500, "\(error)", type: "server_error").response
        }
    }
}

/// `Authorization: Bearer KEY` on every request but the page's own files (which hold no data;
/// the page asks for the key), compared in constant time.
struct BearerCheck<Context: RequestContext>: RouterMiddleware {
    let key: String?
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let key, !Page.isAsset(request.uri.path) else { return try await next(request, context) }
        let given = request.headers[.authorization] ?? ""
        let expected = "Bearer " + key
        var diff = UInt8(given.utf8.count == expected.utf8.count ? 0 : 1)
        for (a, b) in zip(given.utf8, expected.utf8) { diff |= a ^ b }
        guard diff == 0 else {
            let message = given.isEmpty ? "this server needs an API key: send 'Authorization: Bearer KEY' (the key given to `foundry serve --api-key`)"
                                        : "the API key is wrong"
            return APIError(401, message, type: "authentication_error", code: "invalid_api_key").response
        }
        return try await next(request, context)
    }
}
