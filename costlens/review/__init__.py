"""Reviewing a change of model: `costlens diff` (two versions of a model, or a model against a
git revision of itself) and `costlens compare` (the paper's Table 8 for several candidates).

Both work on report dicts, the JSON form of `costlens report --format json`, so that a TARGET
analyzed now, in this process or in a worker process, and a report saved earlier are the same
thing to them. Nothing here imports torch until a TARGET is analyzed, so the command line's
parser stays cheap.
"""
