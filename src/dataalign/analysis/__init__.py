"""Does alignment predict performance? Calibrated tests over train sets (`inference`,
`decisions`, `multiple_testing`), the table of fits per eval set they fill (`correlation`), what
the stages cost (`costs`) and the figures (`plots`). A leaf: of the other dataalign
packages it reads only the config schema (its defaults)."""

BASE = "base"  # the `train` label of an experiment's untrained model in its evaluations
