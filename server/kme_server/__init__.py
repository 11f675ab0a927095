"""kme_server: the gRPC service that applies a knowledge store to a language model's answers."""
