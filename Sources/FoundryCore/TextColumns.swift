extension String {
    /// Left-aligned in a column `width` characters wide (never cut), for the tables Foundry prints.
    public func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
