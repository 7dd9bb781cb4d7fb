import ArgumentParser
import Foundation
import FoundryCore
import FoundryServe

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over HTTP: OpenAI-compatible endpoints, and a chat and ranking page at /.",
        discussion: """
        Endpoints: POST /v1/chat/completions (messages in Foundry's chat format), POST \
        /v1/completions (raw text), GET /v1/models, GET /health; streaming, n, max_tokens, \
        temperature, top_p, stop, seed and logprobs as OpenAI has them, plus top_k, min_p and \
        repetition_penalty. Requests generate together: up to --slots sequences share each \
        decoding step, up to --queue more wait, and past that a request gets 503.

        It listens on 127.0.0.1 unless --host says otherwise; any other address needs --api-key \
        (clients send 'Authorization: Bearer KEY'). Ctrl-C lets running requests finish, then exits.

        With --prompts and --rankings, the page's Rank tab shows --k responses the model \
        sampled for each prompt for a person to order; each ranking is appended to the file at \
        once, ready for `foundry reward --data`.

        Examples:
          foundry serve --model runs/pipeline/ppo
          curl http://127.0.0.1:8080/v1/chat/completions -d '{"messages": [{"role": "user", "content": "Which is larger: 3 or 5?"}]}'
          foundry serve --model runs/pipeline/sft --prompts prompts.jsonl --rankings rankings.jsonl --reward-model runs/pipeline/reward
        """)

    static let defaults = ServeOptions()
    @Option(help: "Model directory to serve (a chat model for /v1/chat/completions and the page).") var model: String
    @Option(help: "Address to listen on; other than loopback needs --api-key.") var host = defaults.host
    @Option(help: "Port (0 = any free port, printed at start).") var port = defaults.port
    @Option(help: "Require 'Authorization: Bearer KEY' on every request.") var apiKey: String?
    @Option(help: "Sequences decoded together in one step (\(ServeOptions.slotRange.lowerBound)-\(ServeOptions.slotRange.upperBound)).") var slots = defaults.slots
    @Option(help: "Sequences that may wait for a slot before requests are refused with 503.") var queue = defaults.queue
    @Option(help: ArgumentHelp("Precision the weights are read in while decoding (f16: half the bytes a step, sums in float; f32: exactly the trained model).", valueName: "precision"))
    var decodeWeights = defaults.decodeWeights
    @Option(help: "Largest request body in bytes.") var maxBodyBytes = defaults.maxBodyBytes
    @Option(help: "Prompts for the Rank tab (JSONL rows with \"prompt\").") var prompts: String?
    @Option(help: "Rankings file the Rank tab appends to (resumed where it ends).") var rankings: String?
    @Option(help: "Responses per prompt on the Rank tab.") var k = defaults.k
    @Option(help: "Sampling temperature of the Rank tab's responses.") var rankTemperature = defaults.rankTemperature
    @Option(help: "Longest response on the Rank tab, in tokens.") var rankMaxTokens = defaults.rankMaxTokens
    @Option(help: "Reward model whose scores the Rank tab shows after each submission.") var rewardModel: String?
    @OptionGroup var deviceOptions: DeviceOptions

    var options: ServeOptions {
        var o = Self.defaults
        o.host = host; o.port = port; o.apiKey = apiKey; o.slots = slots; o.queue = queue; o.maxBodyBytes = maxBodyBytes; o.decodeWeights = decodeWeights
        o.prompts = prompts; o.rankings = rankings; o.k = k; o.rankTemperature = rankTemperature; o.rankMaxTokens = rankMaxTokens
        o.rewardModel = rewardModel
        return o
    }

    func validate() throws { try options.validate() }

    func run() throws {
        let device = try deviceOptions.open()
        let server = try FoundryServer.prepare(model: model, device: device, options: options)
        let host = options.host.contains(":") ? "[\(options.host)]" : options.host
        let m = server.model.engine.model
        try server.run { port in
            print("serving \(model) (\(m.config.layers) layers × \(m.config.channels), context \(m.config.maxSeq), \(device.backend)) "
                + "at http://\(host):\(port)/ — \(options.slots) slots, queue \(options.queue)\(options.apiKey == nil ? "" : ", API key required"); Ctrl-C stops")
            fflush(stdout)
        }
        print("stopped: every request finished")
    }
}
