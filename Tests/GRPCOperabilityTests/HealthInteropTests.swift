import GRPCOperability
import Testing

/// grpc.health.v1 against grpcio's own client (interop/health_client.py).
@Suite struct HealthInteropTests {
  @Test func checkAndWatchWithGrpcio() async throws {
    try await OperabilityServer.with { server in
      server.health.setStatus(.serving, forService: "")
      server.health.setStatus(.serving, forService: "chat.v1.ChatService")

      let health = server.health
      let (lines, status, stderr) = try await InteropScript.run("health_client.py", ["\(server.port)"]) { line in
        // The script's Watch is open: drive it through a change, then the end.
        switch line {
        case "watch chat.v1.ChatService SERVING": health.setStatus(.notServing, forService: "chat.v1.ChatService")
        case "watch chat.v1.ChatService NOT_SERVING": health.shutDown()
        default: break
        }
      }
      #expect(status == 0, "health_client.py failed: \(stderr)")
      #expect(
        lines == [
          "check <server> SERVING",
          "check chat.v1.ChatService SERVING",
          "check no.such.Service NOT_FOUND",
          "watch no.such.Service SERVICE_UNKNOWN",
          "watch chat.v1.ChatService SERVING",
          "watch chat.v1.ChatService NOT_SERVING",
          "watch chat.v1.ChatService ended OK",
        ])
      // Everything is NOT_SERVING after the shutdown, the overall status too.
      #expect(server.health.status(forService: "") == .notServing)
    }
  }
}
