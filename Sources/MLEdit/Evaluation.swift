// The CounterFact metrics of a model on facts (efficacy, paraphrase, neighbourhood, top-1), with
// progress reported to the session. The computation is Solvers' CounterFactEvaluation.
import Models
import Solvers

public enum Evaluation {
    /// Scores `facts` on `model` as it is.
    public static func counterFact(_ facts: [EditRequest], model: any TransformerModel, tokenizer: Tokenizer,
                                   session: Session) throws -> EvaluationReport {
        var bar: TaskProgress?
        let report = try CounterFactEvaluation.evaluate(
            model: model, tokenizer: tokenizer, requests: facts,
            progress: { done, rows in
                if bar == nil { bar = session.progress("eval", rows) }
                bar?.update(done)
            })
        bar?.finish()
        return report
    }
}

extension Workspace {
    /// The CounterFact metrics of `facts` on the model at `revision` (nothing is stored).
    public func evaluate(_ facts: [EditRequest], at revision: String = "HEAD") throws -> EvaluationReport {
        let version = try model(at: revision)
        return try Evaluation.counterFact(facts, model: version.model, tokenizer: version.tokenizer, session: session)
    }
}
