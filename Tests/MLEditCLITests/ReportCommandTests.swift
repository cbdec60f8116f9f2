// `mledit report` on the health history fixture (main A → B → C, side A → D, tag v1 at B): the
// page is self-contained, has one graph node per commit with its parent edges and ref labels,
// charts and a table along the chosen lineage; a headless Chromium loads it and finds the same
// elements in its DOM. Usage errors and an unborn HEAD fail clearly.
import Foundation
import Ledger
import Testing
@testable import MLEditCLI

@Suite("mledit report")
struct ReportCommandTests {
    /// Occurrences of `needle` in `text`.
    static func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// The checks both the written file and Chromium's DOM must pass.
    static func checkElements(_ html: String, history: HealthHistory, lineage: [CommitRecord], source: String) {
        let commits = [history.a, history.b, history.c, history.d]
        #expect(count("<circle class=\"commit", in: html) == 4, "\(source): commit nodes")
        for commit in commits {
            #expect(html.contains("data-commit=\"\(commit.id)\" cx="), "\(source): no node for \(commit.message)")
            if let parent = commit.parentID {
                #expect(html.contains("class=\"edge\" data-from=\"\(parent)\" data-to=\"\(commit.id)\""), "\(source): no edge to \(commit.message)")
            }
        }
        #expect(count("class=\"edge\"", in: html) == 3, "\(source): parent edges")
        #expect(html.contains(">HEAD -&gt; main</text>") && html.contains(">side</text>") && html.contains(">tag: v1</text>"), "\(source): ref labels")
        for id in ["history-graph", "perplexity-chart", "knowledge-chart", "norm-chart", "retention-chart", "lineage-table"] {
            #expect(html.contains("id=\"\(id)\""), "\(source): no element #\(id)")
        }
        #expect(count("<tr class=\"commit-row\"", in: html) == lineage.count, "\(source): table rows")
        for commit in lineage { #expect(html.contains("<tr class=\"commit-row\" data-commit=\"\(commit.id)\"")) }
        #expect(html.contains("data-series=\"\(EvalFixture.tensor)\""), "\(source): no norm series")
        #expect(html.contains("polyline class=\"series\" data-series=\"perplexity\""), "\(source): no perplexity series")
        #expect(html.contains("efficacy 100% (2/2) · retention n/a"), "\(source): commit A's figures")
    }

    /// Chromium from PATH or /usr/bin (scripts/setup-browser installs it).
    static func chromium() throws -> URL {
        let candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/chromium" }
            + ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        let found = candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
        return URL(fileURLWithPath: try #require(found, "chromium is not installed: run scripts/setup-browser (apt-get install chromium)"))
    }

    /// Chromium's serialized DOM of the page at `file`, loaded headless (no display needed).
    static func dumpDOM(_ file: URL) throws -> String {
        let profile = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(profile) }
        let outcome = try CLIHarness.runProcess(
            try chromium(), ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile.path)",
                             "--dump-dom", file.absoluteString], timeout: 120)
        try #require(outcome.status == 0, "chromium exited with \(outcome.status): \(outcome.stderr.suffix(500))")
        return outcome.stdout
    }

    @Test("the page: self-contained, a node per commit with edges and refs, charts and table along HEAD; Chromium finds them")
    func reportOfHead() throws {
        let history = try HealthHistory()
        defer { CLIHarness.cleanUp(history.directory) }
        let outcome = CLIHarness.run(["report", "-o", "report.html"], in: history.directory)
        try #require(outcome.status == 0, "report failed: \(outcome.stderr)")
        #expect(outcome.stdout.contains("Wrote report.html: 4 commits, lineage of HEAD (3 commits)."))
        #expect(outcome.stderr.contains("health: measuring 4 commits"))
        let file = history.directory.appendingPathComponent("report.html")
        let html = try String(contentsOf: file, encoding: .utf8)
        let lineage = try history.repository.lineage(of: history.c.id)
        Self.checkElements(html, history: history, lineage: lineage, source: "file")
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
        for external in ["<script", "<link", "src=", "href=", "url(", "@import"] {
            #expect(!html.contains(external), "the page refers to something outside itself: \(external)")
        }
        #expect(Self.count("class=\"commit in-lineage", in: html) == 3 && html.contains("class=\"commit in-lineage tip\""))

        let dom = try Self.dumpDOM(file)
        Self.checkElements(dom, history: history, lineage: lineage, source: "chromium")
        #expect(dom.contains("</svg>") && Self.count("<svg ", in: dom) == 5)

        // The measurements were stored: a second report measures nothing.
        let again = CLIHarness.run(["report", "-o", "again.html"], in: history.directory)
        #expect(again.status == 0 && !again.stderr.contains("health: measuring"), "\(again.stderr)")
    }

    @Test("--at follows another lineage; the graph still shows every commit")
    func reportAtSideBranch() throws {
        let history = try HealthHistory()
        defer { CLIHarness.cleanUp(history.directory) }
        let outcome = CLIHarness.run(["report", "--output", "side.html", "--at", "side"], in: history.directory)
        try #require(outcome.status == 0, "report failed: \(outcome.stderr)")
        let html = try String(contentsOf: history.directory.appendingPathComponent("side.html"), encoding: .utf8)
        Self.checkElements(html, history: history, lineage: [history.d, history.a], source: "side")
        #expect(html.contains("class=\"commit in-lineage tip\" data-commit=\"\(history.d.id)\""))
    }

    @Test("usage errors and an unborn HEAD")
    func failures() throws {
        let directory = try EvalFixture.repository()
        defer { CLIHarness.cleanUp(directory) }
        let missing = CLIHarness.run(["report"], in: directory)
        #expect(missing.status == 64 && missing.stderr.contains("--output"))
        let unborn = CLIHarness.run(["report", "-o", "r.html"], in: directory)
        #expect(unborn.status == 1 && unborn.stderr.hasPrefix("Error: HEAD has no commits yet"))
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("r.html").path))
        let badRevision = CLIHarness.run(["report", "-o", "r.html", "--at", "nosuchbranch"], in: directory)
        #expect(badRevision.status == 1 && badRevision.stderr.contains("nosuchbranch"))
    }
}
