"""gen: code the reference generators tests/gen_*.py share (common: set-up and writing;
repa_nets: the REPA target encoder, projector and loss of gen_repa.py and gen_train.py)."""
