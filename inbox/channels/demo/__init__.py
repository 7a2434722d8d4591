"""Demo channel: stands in for a real provider in `inbox demo` data; never used for real accounts."""
