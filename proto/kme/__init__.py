"""kme: the versioned gRPC API of the knowledge-editing service (generated code in kme.v1)."""
