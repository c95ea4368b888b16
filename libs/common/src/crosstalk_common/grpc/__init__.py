"""gRPC plumbing shared by the services: server, errors, auth, clients."""
