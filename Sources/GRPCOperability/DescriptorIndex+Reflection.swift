import Foundation
import GRPCCore

extension DescriptorIndex {
  /// The answer to one ServerReflectionInfo request. Every request gets one
  /// response; what cannot be answered is an `error_response`, and the
  /// stream goes on.
  func response(to request: Grpc_Reflection_V1_ServerReflectionRequest) -> Grpc_Reflection_V1_ServerReflectionResponse {
    var response = Grpc_Reflection_V1_ServerReflectionResponse()
    response.validHost = request.host
    response.originalRequest = request
    response.messageResponse = messageResponse(to: request.messageRequest)
    return response
  }

  private func messageResponse(
    to request: Grpc_Reflection_V1_ServerReflectionRequest.OneOf_MessageRequest?
  ) -> Grpc_Reflection_V1_ServerReflectionResponse.OneOf_MessageResponse {
    switch request {
    case .listServices:
      return .listServicesResponse(.with { $0.service = serviceNames.map { name in .with { $0.name = name } } })
    case .fileByFilename(let name):
      return files(fileWithDependencies(named: name), orNotFound: "no file named '\(name)'")
    case .fileContainingSymbol(let symbol):
      return files(fileContaining(symbol: symbol), orNotFound: "no file defines the symbol '\(symbol)'")
    case .fileContainingExtension(let request):
      return files(
        fileContaining(extensionOf: request.containingType, number: request.extensionNumber),
        orNotFound: "no file declares extension \(request.extensionNumber) of '\(request.containingType)'")
    case .allExtensionNumbersOfType(let type):
      guard let numbers = extensionNumbers(of: type) else {
        return error(.notFound, "no message type named '\(type)'")
      }
      return .allExtensionNumbersResponse(.with {
        $0.baseTypeName = type
        $0.extensionNumber = numbers
      })
    case nil:
      return error(.invalidArgument, "the request has no message_request set")
    }
  }

  private func files(
    _ files: [Data]?, orNotFound message: @autoclosure () -> String
  ) -> Grpc_Reflection_V1_ServerReflectionResponse.OneOf_MessageResponse {
    guard let files else { return error(.notFound, message()) }
    return .fileDescriptorResponse(.with { $0.fileDescriptorProto = files })
  }

  private func error(
    _ code: RPCError.Code, _ message: String
  ) -> Grpc_Reflection_V1_ServerReflectionResponse.OneOf_MessageResponse {
    .errorResponse(.with {
      $0.errorCode = Int32(code.rawValue)
      $0.errorMessage = message
    })
  }
}
