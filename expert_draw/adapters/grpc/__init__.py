"""gRPC adapter: servicers, the call interceptor, authorization and status mapping."""
