/// Whether a service can take calls, as the health service reports it.
public enum ServingStatus: Sendable, Hashable {
  case serving
  case notServing
}

extension ServingStatus {
  /// The status on the wire (`grpc.health.v1.HealthCheckResponse.ServingStatus`).
  var proto: Grpc_Health_V1_HealthCheckResponse.ServingStatus {
    switch self {
    case .serving: .serving
    case .notServing: .notServing
    }
  }
}
