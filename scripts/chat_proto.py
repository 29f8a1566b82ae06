"""chat.proto's Python messages and stubs, compiled at import time with
grpcio-tools (pip) into a temporary directory: what scripts/fill_store.py and
scripts/history_latency.py import as `from chat_proto import chat_pb2, chat_pb2_grpc`."""
import os, sys, tempfile

from grpc_tools import protoc

_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_out = tempfile.mkdtemp()
_include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
if protoc.main(["protoc", f"-I{_root}", f"-I{_include}", f"--python_out={_out}", f"--grpc_python_out={_out}", "chat.proto"]) != 0:
    sys.exit("cannot compile chat.proto")
sys.path.insert(0, _out)
import chat_pb2, chat_pb2_grpc  # noqa: E402,F401
