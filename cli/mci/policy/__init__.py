"""`mci policy diff`: what a config change loosens, judged on meaning rather than text.

A changed profile or rule is parsed, resolved and built on both sides (the
base from a git ref or a file, the new from the working tree) and the typed
models are compared field by field. Every difference is a finding:

  loosening   more is allowed than before (a higher limit, a dropped check or
              step, a weaker on_error, a more tolerant breaker): exit 1 unless
              a recorded approval names it exactly;
  tightening  less is allowed than before: passes;
  neutral     changed, with no known direction (or a new file): passes.

Each finding names file:line:column in the new version and carries a subject
`policy:<file>:<key>=<new value>` (mci.policy.findings) that `mci policy approve`
records, so an approval of 8% never covers 10%.

A profile is compared with the rules held at their new version, and a changed
rule file on its own: a rule change is reported once, against the rule file,
not again in every profile that uses it.
"""
