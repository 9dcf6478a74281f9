#!/bin/sh
# Generates the Python stubs of the seer.v1 API from ../../proto into ./seer/v1/.
# The generated files are not committed (see .gitignore); rerun after the protos change.
set -eu
cd "$(dirname "$0")"
python -m grpc_tools.protoc -I ../../proto --python_out=. --grpc_python_out=. ../../proto/seer/v1/*.proto
# make the generated modules importable as packages
touch seer/__init__.py seer/v1/__init__.py
echo "generated: $(ls seer/v1/*_pb2*.py | tr '\n' ' ')"
