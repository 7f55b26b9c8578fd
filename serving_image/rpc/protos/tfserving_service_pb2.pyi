from serving_image.rpc.protos import tfserving_pb2 as _tfserving_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
