"""Generated protobuf and gRPC modules for package shoal.v1 (see the .proto files)."""
