"""The exact fast inference path: compiled predictors that give scikit-learn's answers
bit for bit, proven per model version before they serve (issue 13)."""
