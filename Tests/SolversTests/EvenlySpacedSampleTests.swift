// The sampling rule of long histories: the whole list when it is short, else `limit` elements at
// evenly spaced indices, first included, in order, the same for the same list.
import Testing
@testable import Solvers

@Suite("Evenly spaced samples")
struct EvenlySpacedSampleTests {
    @Test("short lists are kept whole; long ones give limit elements, evenly spaced, first included, in order")
    func sample() {
        #expect([1, 2, 3].evenlySpacedSample(3) == [1, 2, 3])
        #expect([Int]().evenlySpacedSample(4) == [])
        #expect(Array(0..<10).evenlySpacedSample(5) == [0, 2, 4, 6, 8])
        #expect(Array(0..<7).evenlySpacedSample(3) == [0, 2, 4])
        let long = Array(0..<1000)
        let picked = long.evenlySpacedSample(256)
        #expect(picked.count == 256 && picked.first == 0 && zip(picked, picked.dropFirst()).allSatisfy { $0 < $1 })
        #expect(picked == long.evenlySpacedSample(256))
        #expect(EditPlanner.contextSample(Array(0..<2000)) == Array(0..<2000).evenlySpacedSample(EditPlanner.contextFactLimit))
    }
}
