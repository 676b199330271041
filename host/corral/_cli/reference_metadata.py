"""The worked example of formula metadata in docs/reference.md (``corral reference``)."""

from __future__ import annotations

FORMULA_METADATA = '''```toml
[limits]
timeout_ms = 5000            # the pack's limit: every formula's calls, unless it asks less

[[formulas]]
name = "Span"
params = [{ name = "low", type = "integer" }, { name = "high", type = "integer" }]
result = { type = "integer" }
# Each example is checked at build (params against the signature, result against the
# schema) and run by `corral validate --examples` and corral.testing.run_examples.
examples = [{ params = [2, 5], result = 3 }, { params = [0, 0], result = 0 }]
# Before each call the host asks the pack's validate_parameters op; an answer of
# {valid: false, message, field_errors: [{parameter, message}]} fails the call with
# invalid_parameters (400) and the formula does not run (guest-sdk/ABI.md §3.1).
validate_parameters = true
# At most the pack's [limits] timeout_ms (more is a manifest error); a call runs until
# the earliest of this and its own deadline (deadline_s, else evaluate_deadline_s).
timeout_ms = 200
```'''

FORMULA_METADATA_NOTES = (
    "Formula metadata, in one formula: `examples`, `validate_parameters` and `timeout_ms`. "
    "Examples run in the sandbox without network; an example of a formula that needs a "
    "connection (`connection = \"required\"` on a pack with auth) is skipped, saying so.")
