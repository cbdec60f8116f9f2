// The one conversion between the solver's fact (EditRequest, as a facts file gives it) and the
// ledger's (Fact, as a commit stores it). The ledger does not store `neighborhoodAnswers` (they
// only serve evaluation), so a fact read back from a commit has none.
import Ledger
import Solvers

extension EditRequest {
    /// A fact as the ledger stores it.
    package var ledgerFact: Fact {
        Fact(subject: subject, prompt: prompt, targetNew: targetNew, targetTrue: targetTrue,
             paraphrases: paraphrases, neighborhood: neighborhood)
    }

    /// A stored fact as a request; `line` is what messages about it cite.
    package init(_ fact: Fact, line: Int = 0) {
        self.init(subject: fact.subject, prompt: fact.prompt, targetNew: fact.targetNew, targetTrue: fact.targetTrue,
                  paraphrases: fact.paraphrases, neighborhood: fact.neighborhood, line: line)
    }

    /// A fact of a commit as a request, cited by its place in the commit (line = ordinal + 1).
    package init(_ record: FactRecord) {
        self.init(record.fact, line: record.ordinal + 1)
    }
}

extension Fact {
    /// The rewrite prompt with the subject filled in.
    package var filledPrompt: String { EditRequest(self).filledPrompt }
}
