import Foundation
import SwiftProtobuf
import Testing

@testable import GRPCOperability

/// The reflection service's index over the chat server's descriptor set, and
/// its answers, without a server.
@Suite struct DescriptorIndexTests {
  let index: DescriptorIndex

  init() throws {
    let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: ChatDescriptorSet.serialized)
    index = try DescriptorIndex(serializedFiles: set.file.map { try $0.serializedBytes() })
  }

  @Test func listsEveryService() throws {
    #expect(
      index.serviceNames == [
        "chat.v1.ChatService", "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
      ])
    #expect(try ReflectionService(fileDescriptorSet: ChatDescriptorSet.serialized).serviceNames == index.serviceNames)
    // The descriptors the application gets to exempt these services from its interceptors.
    #expect(
      Set((ReflectionService.serviceDescriptors + [HealthService.serviceDescriptor]).map(\.fullyQualifiedService))
        == Set(index.serviceNames.dropFirst()))
  }

  @Test(arguments: [
    ("chat.v1.ChatService", "chat.proto"),  // service
    ("chat.v1.ChatService.Connect", "chat.proto"),  // method
    ("chat.v1.Event", "chat.proto"),  // message
    (".chat.v1.Event", "chat.proto"),  // as descriptors write type names
    ("chat.v1.Event.time", "chat.proto"),  // field
    ("chat.v1.Event.kind", "chat.proto"),  // oneof
    ("chat.v1.LeaveReason", "chat.proto"),  // enum
    ("chat.v1.LEAVE_REASON_KICKED", "chat.proto"),  // enum value, a sibling of its enum
    ("grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"),  // nested enum
    ("grpc.health.v1.HealthListResponse.StatusesEntry", "grpc/health/v1/health.proto"),  // nested message (map entry)
    ("google.protobuf.Timestamp", "google/protobuf/timestamp.proto"),  // an import
    ("grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo", "grpc/reflection/v1alpha/reflection.proto"),
  ])
  func findsTheFileDefiningASymbol(symbol: String, file: String) throws {
    let files = try #require(index.fileContaining(symbol: symbol))
    #expect(try names(files).first == file)
  }

  @Test func aFileComesWithItsImportsEachOnce() throws {
    let files = try #require(index.fileWithDependencies(named: "chat.proto"))
    #expect(try names(files) == ["chat.proto", "google/protobuf/empty.proto", "google/protobuf/timestamp.proto"])
    #expect(try names(#require(index.fileWithDependencies(named: "grpc/health/v1/health.proto"))) == ["grpc/health/v1/health.proto"])
  }

  @Test func unknownNamesAreNotFound() {
    #expect(index.fileWithDependencies(named: "nope.proto") == nil)
    #expect(index.fileContaining(symbol: "chat.v1.Nope") == nil)
    #expect(index.fileContaining(symbol: "chat.v1") == nil)  // a package is not a symbol
    #expect(index.extensionNumbers(of: "chat.v1.Nope") == nil)
    #expect(index.extensionNumbers(of: "chat.v1.Event") == [])
    #expect(index.fileContaining(extensionOf: "chat.v1.Event", number: 100) == nil)
  }

  @Test func answersEachKindOfRequest() throws {
    func answer(_ set: (inout Grpc_Reflection_V1_ServerReflectionRequest) -> Void) -> Grpc_Reflection_V1_ServerReflectionResponse {
      var request = Grpc_Reflection_V1_ServerReflectionRequest()
      request.host = "localhost"
      set(&request)
      let response = index.response(to: request)
      #expect(response.validHost == "localhost")
      #expect(response.originalRequest == request)
      return response
    }

    let list = answer { $0.listServices = "" }
    #expect(list.listServicesResponse.service.map(\.name) == index.serviceNames)

    let file = answer { $0.fileByFilename = "chat.proto" }
    #expect(try names(file.fileDescriptorResponse.fileDescriptorProto).first == "chat.proto")

    let symbol = answer { $0.fileContainingSymbol = "grpc.health.v1.Health.Watch" }
    #expect(try names(symbol.fileDescriptorResponse.fileDescriptorProto) == ["grpc/health/v1/health.proto"])

    let numbers = answer { $0.allExtensionNumbersOfType = "chat.v1.Event" }
    #expect(numbers.allExtensionNumbersResponse.baseTypeName == "chat.v1.Event")
    #expect(numbers.allExtensionNumbersResponse.extensionNumber == [])

    for (request, code) in [
      (answer { $0.fileByFilename = "nope.proto" }, 5),
      (answer { $0.fileContainingSymbol = "nope.Nope" }, 5),
      (answer { $0.allExtensionNumbersOfType = "nope.Nope" }, 5),
      (answer { $0.fileContainingExtension = .with { $0.containingType = "chat.v1.Event"; $0.extensionNumber = 1 } }, 5),
      (answer { _ in }, 3),  // nothing asked: INVALID_ARGUMENT
    ] {
      #expect(request.errorResponse.errorCode == Int32(code), "\(request)")
      #expect(!request.errorResponse.errorMessage.isEmpty)
    }
  }

  @Test func extensionsAreIndexed() throws {
    // A file extending chat.v1.Event, as a proto2 file would.
    var file = Google_Protobuf_FileDescriptorProto()
    file.name = "ext.proto"
    file.package = "ext"
    file.dependency = ["chat.proto"]
    file.extension = [.with {
      $0.name = "tag"
      $0.number = 100
      $0.extendee = ".chat.v1.Event"
    }]
    let chat = try #require(index.fileWithDependencies(named: "chat.proto"))
    let withExtension = try DescriptorIndex(serializedFiles: chat + [try file.serializedBytes()])
    #expect(withExtension.extensionNumbers(of: "chat.v1.Event") == [100])
    #expect(try names(#require(withExtension.fileContaining(extensionOf: "chat.v1.Event", number: 100))).first == "ext.proto")
    #expect(try names(#require(withExtension.fileContaining(symbol: "ext.tag"))).first == "ext.proto")
  }

  @Test func refusesSetsItCannotServe() throws {
    let chat = try #require(index.fileWithDependencies(named: "chat.proto"))
    #expect(throws: ReflectionDescriptorError.missingDependency("google/protobuf/empty.proto", importedBy: "chat.proto")) {
      try DescriptorIndex(serializedFiles: [chat[0], chat[2]])
    }
    #expect(throws: ReflectionDescriptorError.duplicateFile("chat.proto")) {
      try DescriptorIndex(serializedFiles: chat + [chat[0]])
    }
    var copy = try Google_Protobuf_FileDescriptorProto(serializedBytes: chat[1])
    copy.name = "copy.proto"
    #expect(throws: ReflectionDescriptorError.duplicateSymbol("google.protobuf.Empty", files: ["google/protobuf/empty.proto", "copy.proto"])) {
      try DescriptorIndex(serializedFiles: chat + [try copy.serializedBytes()])
    }
    #expect(throws: ReflectionDescriptorError.invalidFileDescriptor(index: 1)) {
      try DescriptorIndex(serializedFiles: [chat[1], Data([0xFF, 0xFF])])
    }
    #expect(throws: ReflectionDescriptorError.invalidFileDescriptorSet) {
      try ReflectionService(fileDescriptorSet: Data([0xFF, 0xFF]))
    }
  }

  private func names(_ files: [Data]) throws -> [String] {
    try files.map { try Google_Protobuf_FileDescriptorProto(serializedBytes: $0).name }
  }
}
