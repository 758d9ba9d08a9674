"""The bottom layer: the harness's errors, how numbers read on a page, and the statistics every
report and the gate use. Pure functions and constants; imports nothing else of the harness."""
