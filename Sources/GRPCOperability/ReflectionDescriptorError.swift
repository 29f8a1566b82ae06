/// Why a set of file descriptors cannot back a `ReflectionService`.
public enum ReflectionDescriptorError: Error, Hashable, CustomStringConvertible {
  /// The bytes are not a serialized `google.protobuf.FileDescriptorSet`.
  case invalidFileDescriptorSet
  /// The file descriptor at this index is not a serialized `FileDescriptorProto`.
  case invalidFileDescriptor(index: Int)
  /// Two files have the same name.
  case duplicateFile(String)
  /// Two files (or one, twice) define the same fully qualified name.
  case duplicateSymbol(String, files: [String])
  /// A file imports one that is not in the set (protoc's `--include_imports`
  /// adds them).
  case missingDependency(String, importedBy: String)

  public var description: String {
    switch self {
    case .invalidFileDescriptorSet:
      "the bytes are not a serialized google.protobuf.FileDescriptorSet"
    case .invalidFileDescriptor(let index):
      "file descriptor #\(index) is not a serialized google.protobuf.FileDescriptorProto"
    case .duplicateFile(let name):
      "the file '\(name)' is given twice"
    case .duplicateSymbol(let symbol, let files):
      "'\(symbol)' is defined twice (in \(files.joined(separator: " and ")))"
    case .missingDependency(let dependency, let file):
      "'\(file)' imports '\(dependency)', which is not given (protoc --include_imports adds it)"
    }
  }
}
