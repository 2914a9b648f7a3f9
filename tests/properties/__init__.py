"""Property-based tests (Hypothesis) of every text that reaches a message (issue #18)."""
