import Foundation
import GRPCCore
import GRPCProtobuf
import SwiftProtobuf

/// gRPC server reflection, `grpc.reflection.v1.ServerReflection` and the
/// older `grpc.reflection.v1alpha.ServerReflection` (which grpcurl and
/// Python's grpcio-reflection still use), over a fixed set of files.
///
/// The files are whatever the server should describe, including the health
/// and reflection services if it registers them: `ChatDescriptorSet` holds
/// the chat server's. A file is answered with every file it imports, so the
/// set must be closed under imports (protoc's `--include_imports`).
public struct ReflectionService: RegistrableRPCService {
  private let index: DescriptorIndex

  /// `grpc.reflection.v1.ServerReflection` and its v1alpha twin: for
  /// interceptors that must leave them alone.
  public static let serviceDescriptors = [
    Grpc_Reflection_V1_ServerReflection.descriptor,
    Grpc_Reflection_V1alpha_ServerReflection.descriptor,
  ]

  /// From a serialized `google.protobuf.FileDescriptorSet`, such as protoc's
  /// `--descriptor_set_out` (with `--include_imports`) writes.
  public init(fileDescriptorSet: Data) throws(ReflectionDescriptorError) {
    let set: Google_Protobuf_FileDescriptorSet
    do {
      set = try Google_Protobuf_FileDescriptorSet(serializedBytes: fileDescriptorSet)
    } catch {
      throw .invalidFileDescriptorSet
    }
    // Each file re-serialized once here; answers send these bytes as they are.
    var files: [Data] = []
    for (index, file) in set.file.enumerated() {
      do {
        files.append(try file.serializedBytes())
      } catch {
        throw .invalidFileDescriptor(index: index)
      }
    }
    try self.init(fileDescriptorProtos: files)
  }

  /// From serialized `google.protobuf.FileDescriptorProto`s.
  public init(fileDescriptorProtos: [Data]) throws(ReflectionDescriptorError) {
    self.index = try DescriptorIndex(serializedFiles: fileDescriptorProtos)
  }

  /// The fully qualified names of the services the files define, sorted (what
  /// list_services answers).
  public var serviceNames: [String] { index.serviceNames }

  public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    let index = self.index
    // v1 is v1alpha renamed: the messages are the same on the wire, so one
    // handler in v1's types serves both.
    for method in [
      Grpc_Reflection_V1_ServerReflection.Method.ServerReflectionInfo.descriptor,
      Grpc_Reflection_V1alpha_ServerReflection.Method.ServerReflectionInfo.descriptor,
    ] {
      router.registerHandler(
        forMethod: method,
        deserializer: ProtobufDeserializer<Grpc_Reflection_V1_ServerReflectionRequest>(),
        serializer: ProtobufSerializer<Grpc_Reflection_V1_ServerReflectionResponse>()
      ) { request, _ in
        StreamingServerResponse { writer in
          for try await message in request.messages {
            try await writer.write(index.response(to: message))
          }
          return [:]
        }
      }
    }
  }
}
