# make bench: every benchmark in bench/ (a few minutes); the last line printed is BENCH {json}.
# Results and the plot go to build/bench/; docs/benchmarks.md says how to refresh the committed copies.
.PHONY: bench
bench: $(VENV)/.installed
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing $(BIN)/python -m bench
