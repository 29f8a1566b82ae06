import GRPCCore

/// `grpc.health.v1.Health`: Check, List and Watch over a table of service
/// statuses the application keeps up to date.
///
/// A service has no status until `setStatus(_:forService:)` gives it one:
/// Check then answers NOT_FOUND and Watch SERVICE_UNKNOWN. By convention the
/// empty name is the server as a whole. A typical server sets `""` and each
/// of its services SERVING once it is listening, and calls `shutDown()` when
/// its graceful shutdown begins.
public final class HealthService: RegistrableRPCService, Sendable {
  let table = HealthStatusTable()

  /// `grpc.health.v1.Health`: for interceptors that must leave it alone (a
  /// load balancer's health check carries no credentials).
  public static let serviceDescriptor = Grpc_Health_V1_Health.descriptor

  public init() {}

  /// Sets `service`'s status; open Watch streams for it get the change.
  /// Ignored after `shutDown()`.
  public func setStatus(_ status: ServingStatus, forService service: String) {
    table.setStatus(status, forService: service)
  }

  /// Forgets `service`'s status: Check answers NOT_FOUND again, and its
  /// watchers get SERVICE_UNKNOWN. Ignored after `shutDown()`.
  public func clearStatus(forService service: String) {
    table.setStatus(nil, forService: service)
  }

  /// `service`'s status; nil if it has none.
  public func status(forService service: String) -> ServingStatus? {
    table.status(ofService: service)
  }

  /// Marks every service NOT_SERVING for good and ends every Watch stream
  /// (OK, after sending the change): grpc-swift's graceful shutdown waits for
  /// open calls, and a Watch would otherwise never end. Later Watch calls
  /// send the status and end at once. Calling it again does nothing.
  public func shutDown() {
    table.shutDown()
  }

  public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    HealthHandlers(table: table).registerMethods(with: &router)
  }
}
