"""Does alignment predict performance? Calibrated tests over train sets (`inference`,
`decisions`, `multiple_testing`), the table of fits per eval set they fill (`correlation`), what
the stages cost (`costs`) and the figures (`plots`). A leaf: it imports no other dataalign
package."""

BASE = "base"  # the `train` label of an experiment's untrained model in its evaluations
