"""Panels: validate a candidate dataset by how a panel of models scores on it (`scoring`), their
benchmark accuracy from lm-evaluation-harness (`harness`), the rank statistics that say
whether the two agree (`stats`) and their figure (`plots`)."""
