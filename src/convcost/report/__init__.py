"""Reports: pure functions from result records to text. A report never computes a count."""
