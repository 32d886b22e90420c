"""dataalign: how aligned is training data with a target benchmark, and does it predict performance?

The library behind the Snakemake workflow; every function works without Snakemake too.
"""

from dataalign.data.sources import load_rows
from dataalign.data.subsets import Part, build_subset, draw_examples, format_examples
from dataalign.errors import ConfigError, DataAlignError, DatasetError, ModelSpecError
from dataalign.models import ModelSpec, load_tokenizer

__all__ = [
    "ConfigError",
    "DataAlignError",
    "DatasetError",
    "ModelSpec",
    "ModelSpecError",
    "Part",
    "build_subset",
    "draw_examples",
    "format_examples",
    "load_rows",
    "load_tokenizer",
]
__version__ = "0.1.0"
