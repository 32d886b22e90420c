"""A validated config as a plan of jobs: what the rules ask, answered in one place.

`Plan(config)` enumerates every distinct job once (each model trained once, each evaluation scored
once, however many experiments ask) and answers the rules' questions by wildcards: which inputs a
job reads, which config slice it receives (`params`), and how large it is (`Workload`). The
modules beneath it:

- `planner`: `Plan`, composed of `jobset` (the jobs and their lookups), `inputs` (input
  functions), `costs` (each stage's benchmark records) and `workloads` (job sizes);
- `paths`: the one registry of artefact path patterns;
- `records`: output identities (a subset, a trained model, an evaluation, a panel scoring);
- `checks`: cross-reference checks run at parse time;
- `lookup`: reads of the config; `params`: each job's slice of it; `jobs`: the job enumeration.
"""

from dataalign.plan.planner import Plan

__all__ = ["Plan"]
