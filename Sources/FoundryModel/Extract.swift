import FoundryCore

extension GPT2 {
    /// A new model made of blocks `range` of this one (renumbered from 0), with the same
    /// embeddings and final LayerNorm: a shallower backbone, or the first blocks to build on.
    public func extract(blocks range: ClosedRange<Int>) throws -> GPT2 {
        guard range.lowerBound >= 0, range.upperBound < config.layers else {
            throw FoundryError("--layers \(range.lowerBound)..\(range.upperBound) is outside the model's blocks 0..\(config.layers - 1)")
        }
        var c = config
        c.layers = range.count
        let out = try GPT2(config: c, device: device)
        for e in out.layout.entries {
            var source = e.name
            if e.name.hasPrefix("h.") {
                let parts = e.name.split(separator: ".", maxSplits: 2)
                source = "h.\(Int(parts[1])! + range.lowerBound).\(parts[2])"
            }
            device.copy(param(source), to: out.param(e.name))
        }
        return out
    }
}
