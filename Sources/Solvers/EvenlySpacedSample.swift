// The one rule by which a long history is sampled wherever a cost must stay bounded (the health
// check's retention and knowledge facts, the context keys a commit holds): the elements at
// evenly spaced indices, first included, so the same history always gives the same sample.

extension Array {
    /// `self`, or `limit` of its elements at evenly spaced indices (the first included), in order.
    public func evenlySpacedSample(_ limit: Int) -> [Element] {
        precondition(limit > 0, "a sample of \(limit) elements")
        guard count > limit else { return self }
        return (0..<limit).map { self[$0 * count / limit] }
    }
}
