"""The quality gate: Great Expectations suites applied to staged batches before any write.

Great Expectations is imported lazily (it takes seconds); `read` and definition loading
never pay for it.
"""
