"""Offline environments for the write and compaction decisions: a conversation streams in, the policy decides,
the conversation's questions are asked afterwards, and the outcome is joined back to the decisions."""
