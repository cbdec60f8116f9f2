// Canonical JSON: one text per value, whatever order or spelling the input had.
import Foundation
import Testing
@testable import Ledger

@Suite("Canonical JSON")
struct JSONValueTests {
    @Test("keys are sorted, whitespace dropped, numbers and strings written one way")
    func canonical() throws {
        let a = try JSONValue(parsing: #"{ "b": [1, 2.5, 8.0, -0.001, 1e20], "a": {"y": null, "x": true}, "é": "line\nbreak \"q\" \u0001" }"#)
        let b = try JSONValue(parsing: #"{"é":"line\nbreak \"q\" \u0001","a":{"x":true,"y":null},"b":[1,2.5,8,-0.001,100000000000000000000]}"#)
        #expect(try a.canonicalText() == b.canonicalText())
        #expect(try a.canonicalText() == #"{"a":{"x":true,"y":null},"b":[1,2.5,8,-0.001,1e+20],"é":"line\nbreak \"q\" \u0001"}"#)
        // The canonical text is a fixed point.
        let text = try a.canonicalText()
        #expect(try JSONValue(parsing: text).canonicalText() == text)
    }

    @Test("Encodable values convert, malformed text and NaN are refused")
    func conversions() throws {
        struct Hyper: Codable, Equatable { var layers: [Int]; var lambda: Double; var method: String }
        let value = Hyper(layers: [3, 4], lambda: 15000.5, method: "MEMIT")
        let json = try JSONValue(encoding: value)
        #expect(try json.canonicalText() == #"{"lambda":15000.5,"layers":[3,4],"method":"MEMIT"}"#)
        #expect(try json.decode(Hyper.self) == value)
        #expect(throws: LedgerError.self) { try JSONValue(parsing: "{not json", field: "hyperparameters") }
        #expect(throws: LedgerError.self) { try JSONValue.number(.nan).canonicalText() }
    }
}
