import Foundation
import SwiftProtobuf

/// The files a reflection service serves, indexed by file name, by every
/// fully qualified name they define, and by extension.
///
/// Files are kept as given (their bytes are sent as they are) and parsed only
/// to build the index.
struct DescriptorIndex: Sendable {
  struct File: Sendable {
    let serialized: Data
    let dependencies: [String]
  }

  private(set) var files: [String: File] = [:]
  /// Every fully qualified name (packages excepted) → the file defining it.
  private var fileBySymbol: [String: String] = [:]
  /// Extended message type → extension field number → the file declaring it.
  private var extensionsByType: [String: [Int32: String]] = [:]
  /// Message types: all_extension_numbers_of_type answers for these only.
  private var messageTypes: Set<String> = []
  /// Every service's fully qualified name, sorted.
  private(set) var serviceNames: [String] = []

  init(serializedFiles: [Data]) throws(ReflectionDescriptorError) {
    var services: [String] = []
    for (index, bytes) in serializedFiles.enumerated() {
      let file: Google_Protobuf_FileDescriptorProto
      do {
        file = try Google_Protobuf_FileDescriptorProto(serializedBytes: bytes)
      } catch {
        throw .invalidFileDescriptor(index: index)
      }
      guard files[file.name] == nil else { throw .duplicateFile(file.name) }
      files[file.name] = File(serialized: bytes, dependencies: file.dependency)

      let scope = file.package.isEmpty ? "" : file.package + "."
      for message in file.messageType {
        try addMessage(message, scope: scope, file: file.name)
      }
      for enumType in file.enumType {
        try addEnum(enumType, scope: scope, file: file.name)
      }
      for field in file.extension {
        try addExtension(field, scope: scope, file: file.name)
      }
      for service in file.service {
        let name = scope + service.name
        try addSymbol(name, file: file.name)
        services.append(name)
        for method in service.method {
          try addSymbol(name + "." + method.name, file: file.name)
        }
      }
    }
    for (name, file) in files {
      for dependency in file.dependencies where files[dependency] == nil {
        throw .missingDependency(dependency, importedBy: name)
      }
    }
    serviceNames = services.sorted()
  }

  /// The file named `name` then every file it imports, directly or not, each
  /// once; nil if there is no such file.
  func fileWithDependencies(named name: String) -> [Data]? {
    guard files[name] != nil else { return nil }
    var result: [Data] = []
    var seen: Set<String> = []
    var pending = [name]
    while let next = pending.popLast() {
      guard seen.insert(next).inserted, let file = files[next] else { continue }
      result.append(file.serialized)
      pending.append(contentsOf: file.dependencies.reversed())
    }
    return result
  }

  /// The file defining `symbol` (a package, service, method, message, field,
  /// oneof, enum, enum value or extension, fully qualified; a leading dot is
  /// allowed) with its dependencies; nil if none does.
  func fileContaining(symbol: String) -> [Data]? {
    let name = symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
    return fileBySymbol[name].flatMap(fileWithDependencies(named:))
  }

  /// The file declaring extension `number` of message `type`, with its
  /// dependencies; nil if none does.
  func fileContaining(extensionOf type: String, number: Int32) -> [Data]? {
    extensionsByType[Self.typeName(type)]?[number].flatMap(fileWithDependencies(named:))
  }

  /// The numbers of every known extension of message `type` (none is a valid
  /// answer); nil if there is no such message type.
  func extensionNumbers(of type: String) -> [Int32]? {
    let type = Self.typeName(type)
    guard messageTypes.contains(type) else { return nil }
    return (extensionsByType[type]?.keys).map { $0.sorted() } ?? []
  }

  // MARK: Building

  private mutating func addSymbol(_ name: String, file: String) throws(ReflectionDescriptorError) {
    if let other = fileBySymbol[name] { throw .duplicateSymbol(name, files: [other, file]) }
    fileBySymbol[name] = file
  }

  private mutating func addMessage(
    _ message: Google_Protobuf_DescriptorProto, scope: String, file: String
  ) throws(ReflectionDescriptorError) {
    let name = scope + message.name
    try addSymbol(name, file: file)
    messageTypes.insert(name)
    for field in message.field {
      try addSymbol(name + "." + field.name, file: file)
    }
    for oneof in message.oneofDecl {
      try addSymbol(name + "." + oneof.name, file: file)
    }
    for nested in message.nestedType {
      try addMessage(nested, scope: name + ".", file: file)
    }
    for enumType in message.enumType {
      try addEnum(enumType, scope: name + ".", file: file)
    }
    for field in message.extension {
      try addExtension(field, scope: name + ".", file: file)
    }
  }

  /// Enum values are siblings of their enum (protobuf's C++ scoping rule):
  /// `chat.v1.CHANNEL_TYPE_USER`, not `chat.v1.ChannelType.CHANNEL_TYPE_USER`.
  private mutating func addEnum(
    _ enumType: Google_Protobuf_EnumDescriptorProto, scope: String, file: String
  ) throws(ReflectionDescriptorError) {
    try addSymbol(scope + enumType.name, file: file)
    for value in enumType.value {
      try addSymbol(scope + value.name, file: file)
    }
  }

  private mutating func addExtension(
    _ field: Google_Protobuf_FieldDescriptorProto, scope: String, file: String
  ) throws(ReflectionDescriptorError) {
    let name = scope + field.name
    try addSymbol(name, file: file)
    let extendee = Self.typeName(field.extendee)
    if let other = extensionsByType[extendee]?[field.number] {
      throw .duplicateSymbol("\(extendee) extension \(field.number)", files: [other, file])
    }
    extensionsByType[extendee, default: [:]][field.number] = file
  }

  /// Descriptors write resolved type names with a leading dot; requests
  /// usually without.
  private static func typeName(_ name: String) -> String {
    name.hasPrefix(".") ? String(name.dropFirst()) : name
  }
}
