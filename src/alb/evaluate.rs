//! The request evaluator (placeholder file replaced by the evaluator work).
