"""The torch boundary: load a TARGET (load.py, serialized.py for saved models), make its inputs
(inputs.py), run it once on the meta device and record every aten op (trace.py, recorder.py,
fast_meta.py), and find the lines of the user's code (locations.py). What comes out is an
OpGraph: plain data that nothing after this package needs torch to read."""
