"""Adapters that let other harnesses call assay's verifiers in their own conventions.

- `assay.integrations.trl`: TRL reward functions (sync and async).
- `assay.integrations.verl`: verl `compute_score` (and its batch form), loadable by file path.
- `assay.integrations.lm_eval`: an equivalence-aware majority-vote filter and `process_results`.
- `assay.integrations.inspect_ai`: an Inspect AI scorer.

Each runs a warm verifier in the caller's process (`assay.integrations.grader`), or calls an assay server
(`url=`). The two that subclass or decorate their harness's types (lm_eval, inspect_ai) import it; the
others only follow its calling convention and import nothing from it. How a harness's ground truth becomes
a reference and a verdict becomes a reward is decided once, in `assay.integrations.convert`.
"""
