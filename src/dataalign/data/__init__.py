"""Datasets: rows from the Hub, a local file or an installed corpus (`sources`, `corpora`), cut
into token-budget subsets with disjoint draws per seed (`subsets`). `demo/` holds the offline
demo's pinned corpora."""
