"""Train a small digits MLP, program it into simulated RRAM arrays with write-verify, read
the conductance maps back over time and evaluate the network on the measured weights.
Usage: python examples/validate_network.py [OUT.h5]"""
import sys

from hil.cli import main

out = sys.argv[1] if len(sys.argv) > 1 else "example-validate.h5"
sys.exit(main(["validate", "digits-mlp", "--times", "1s,1d,1y", "-o", out, "--overwrite"]))
