import GRPCCore

/// The generated `grpc.health.v1.Health` service over a status table.
struct HealthHandlers: Grpc_Health_V1_Health.ServiceProtocol {
  /// The most services List answers with (grpc-go's limit too): past it the
  /// answer would be a snapshot too large to be useful.
  static let maxListedServices = 100

  let table: HealthStatusTable

  func check(
    request: ServerRequest<Grpc_Health_V1_HealthCheckRequest>,
    context: ServerContext
  ) async throws -> ServerResponse<Grpc_Health_V1_HealthCheckResponse> {
    let service = request.message.service
    guard let status = table.status(ofService: service) else {
      throw RPCError(code: .notFound, message: "no health status for service '\(service)'")
    }
    return ServerResponse(message: .with { $0.status = status.proto })
  }

  func list(
    request: ServerRequest<Grpc_Health_V1_HealthListRequest>,
    context: ServerContext
  ) async throws -> ServerResponse<Grpc_Health_V1_HealthListResponse> {
    let statuses = table.allStatuses
    guard statuses.count <= Self.maxListedServices else {
      throw RPCError(
        code: .resourceExhausted,
        message: "\(statuses.count) services have a health status, more than the \(Self.maxListedServices) List returns")
    }
    return ServerResponse(
      message: .with { response in
        for (service, status) in statuses {
          response.statuses[service] = .with { $0.status = status.proto }
        }
      })
  }

  /// The current status, then each change; ends OK when the health service
  /// shuts down.
  func watch(
    request: ServerRequest<Grpc_Health_V1_HealthCheckRequest>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<Grpc_Health_V1_HealthCheckResponse> {
    StreamingServerResponse { [table] writer in
      // Registered in the call's own task: cancelling the call ends the
      // watch and removes it.
      try await table.watch(request.message.service) { status in
        try await writer.write(.with { $0.status = status })
      }
      return [:]
    }
  }
}
