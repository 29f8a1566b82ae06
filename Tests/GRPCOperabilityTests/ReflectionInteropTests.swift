import GRPCOperability
import Testing

/// Server reflection, v1 and v1alpha, against grpcio-reflection's descriptor
/// database (interop/reflection_client.py).
@Suite struct ReflectionInteropTests {
  @Test(arguments: ["v1", "v1alpha"])
  func describeTheServerWithGrpcio(version: String) async throws {
    try await OperabilityServer.with { server in
      let (lines, status, stderr) = try await InteropScript.run("reflection_client.py", ["\(server.port)", version])
      #expect(status == 0, "reflection_client.py \(version) failed: \(stderr)")
      #expect(
        lines == [
          "services chat.v1.ChatService,grpc.health.v1.Health,grpc.reflection.v1.ServerReflection,grpc.reflection.v1alpha.ServerReflection",
          "symbol chat.v1.ChatService chat.proto",
          "symbol chat.v1.ChatService.SendMessage chat.proto",
          "symbol chat.v1.Event chat.proto",
          "symbol chat.v1.LeaveReason chat.proto",
          "symbol grpc.health.v1.HealthCheckResponse.ServingStatus grpc/health/v1/health.proto",
          "symbol grpc.reflection.v1alpha.ServerReflection grpc/reflection/v1alpha/reflection.proto",
          "symbol no.such.Symbol NOT_FOUND",
          "file chat.proto package=chat.v1 imports=google/protobuf/empty.proto,google/protobuf/timestamp.proto",
          "file grpc/health/v1/health.proto package=grpc.health.v1 imports=",
          "file no/such.proto NOT_FOUND",
          "service chat.v1.ChatService methods=Connect,CreateGroupChat,JoinGroupChat,LeaveGroupChat,SendMessage,ListChannels,SignUp,SignIn,SignOut,History,ListMembers",
          "method chat.v1.ChatService.SendMessage chat.v1.SendMessageRequest -> google.protobuf.Empty",
          "message chat.v1.Event fields=time,welcome,message,member_joined,member_left,notice,presence,seq",
          "field chat.v1.Event.time google.protobuf.Timestamp",
          "enum grpc.health.v1.HealthCheckResponse.ServingStatus values=UNKNOWN,SERVING,NOT_SERVING,SERVICE_UNKNOWN",
          "extensions chat.v1.Event []",
          "extensions no.such.Message NOT_FOUND",
        ])
    }
  }
}
