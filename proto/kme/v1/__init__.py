"""kme.v1: messages and service stubs generated from the .proto files beside this module."""
